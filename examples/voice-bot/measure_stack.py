"""Bench figures of the voice bot on the local stack, measured at the caller's ear.

    .venv/bin/python examples/voice-bot/measure_stack.py [--calls 1,4,8] [--json] [--smoke]

Starts the local stack (real Caddy, real TLS, one audio replica running the bot, as
``make run-bot`` does), waits for the models, then for each count N runs
``simulator converse`` with N scripted callers at once (espeak-ng voices), four turns
each: a line, a longer line, a line spoken over the answer 1 s in, and "goodbye". Per
round: reply latency at the ear (p50, p95), barge-in stop (p50, max), the replica's
own ``bot_turn_*`` means, pool waits, CPU seconds per caller turn and the event
loop's lag p99 (from the replica's ``/metrics``), and its resident memory. ``--smoke``
runs two turns per caller (a line, and one spoken over the answer): it checks that
the figures come, not what they are. ``python -m bench`` runs this for its bot section.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from stack import Stack, StackConfig

SCRIPT = """
turns:
  - say: "I would like a table for two people"
    expect: reply
    within: 8
  - say: "Please send the receipt to my email address as soon as you can"
    expect: reply
    within: 8
  - say: "What time does the store open tomorrow"
    interrupt_after: 1.0
    expect: reply
    within: 8
  - say: "Goodbye"
    expect: hangup
    within: 10
"""
SMOKE_SCRIPT = """
turns:
  - say: "I would like a table for two people"
    expect: reply
    within: 8
  - say: "What time does the store open tomorrow"
    interrupt_after: 1.0
    expect: reply
    within: 8
"""
Metrics = dict[str, float]


def scrape(stack: Stack) -> Metrics:
    """The replica's samples, by name with labels, as Prometheus' text has them."""
    text = httpx.get(f"{stack.replicas[0].url}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def lag_p99(before: Metrics, after: Metrics) -> float:
    """The bucket bound that holds the 99th percentile of the loop-lag probes between."""
    prefix = 'audio_event_loop_lag_seconds_bucket{le="'
    bounds = sorted(float(k[len(prefix) : -2]) for k in after if k.startswith(prefix))
    count = {
        b: after[f'{prefix}{_le(b)}"}}'] - before.get(f'{prefix}{_le(b)}"}}', 0) for b in bounds
    }
    total = count[float("inf")]
    return next(b for b in bounds if count[b] >= 0.99 * total)


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it."""
    return "+Inf" if bound == float("inf") else repr(bound)


def mean(before: Metrics, after: Metrics, name: str) -> float | None:
    """The mean of a histogram's observations between two scrapes."""
    count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    return round(total / count, 3) if count else None


def delta(before: Metrics, after: Metrics, name: str) -> float:
    """How much a counter grew between two scrapes."""
    return after.get(name, 0.0) - before.get(name, 0.0)


def converse(stack: Stack, calls: int, folder: Path, script_text: str) -> dict[str, Any]:
    """``simulator converse`` with ``calls`` callers at once: its JSON report."""
    script = folder / "bot.yaml"
    script.write_text(script_text)
    command = [sys.executable, "-m", "simulator", "converse", stack.base_url]
    options = ["--script", str(script), "--calls", str(calls), "--json"]
    done = subprocess.run(
        [*command, *options, "--speech-cache", str(folder / "speech")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "STACK_STATE_DIR": str(stack.config.state_dir)},
        check=False,
    )
    if not done.stdout:
        raise SystemExit(f"converse failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def round_of(stack: Stack, calls: int, folder: Path, script: str = SCRIPT) -> dict[str, Any]:
    """One round of ``calls`` callers: the figures."""
    before = scrape(stack)
    report = converse(stack, calls, folder, script)
    after = scrape(stack)
    stops = sorted(
        t["barge_in_stop_ms"] for t in report["turns"] if t["barge_in_stop_ms"] is not None
    )
    turns = sum(
        delta(before, after, f'bot_turns_total{{outcome="{o}"}}')
        for o in ("answered", "interrupted")
    )
    return {
        "calls": calls,
        "passed": report["passed"],
        "reply_latency_ms": report["reply_latency_ms"],
        "barge_in_stop_ms": {
            "p50": stops[len(stops) // 2] if stops else None,
            "max": max(stops, default=None),
        },
        "server_response_s": mean(before, after, "bot_turn_response_seconds"),
        "asr_s": mean(before, after, "bot_turn_asr_seconds"),
        "tts_first_audio_s": mean(before, after, "bot_turn_tts_first_audio_seconds"),
        "pool_wait_s": mean(before, after, "bot_turn_pool_wait_seconds"),
        "pool_waits": delta(before, after, "bot_pool_waits_total"),
        "speculations": {
            outcome: delta(before, after, f'bot_asr_speculations_total{{outcome="{outcome}"}}')
            for outcome in ("used", "dropped")
        },
        "asr_full_window_retries": delta(before, after, "bot_asr_full_window_retries_total"),
        "cpu_s_per_turn": round(
            delta(before, after, "process_cpu_seconds_total") / max(turns, 1), 3
        ),
        "loop_lag_p99_s": lag_p99(before, after),
        "rss_mb": round(after["process_resident_memory_bytes"] / 2**20),
        "underruns": sum(t["underruns"] or 0 for t in report["turns"]),
        "failed_turns": [t for t in report["turns"] if not t["passed"]][:3],
    }


def wait_loaded(stack: Stack, timeout: float = 120.0) -> Metrics:
    """The replica's metrics once its models are loaded and warm."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = scrape(stack)
        if samples.get("bot_models_load_seconds", 0) > 0:
            return samples
        time.sleep(0.2)
    raise SystemExit("the bot's models did not load")


def main() -> int:
    """Start the stack, run each round, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,4,8", help="comma-separated caller counts")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--smoke", action="store_true", help="two turns a caller: a quick check")
    args = parser.parse_args()
    counts = [int(c) for c in args.calls.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        environ = {
            **os.environ,
            "AUDIO_HANDLER": "voice_bot:voice_bot",
            "HF_HUB_OFFLINE": "1",
            "ORT_DISABLE_TELEMETRY": "1",
            "DRAIN_TIMEOUT": "3",
        }
        config = StackConfig(
            state_dir=Path(folder) / "stack", audio_replicas=1, https_port=0, environ=environ
        )
        with Stack(config) as stack:
            loaded = wait_loaded(stack)
            idle = {
                "models_load_s": round(loaded["bot_models_load_seconds"], 2),
                "rss_mb_idle": round(loaded["process_resident_memory_bytes"] / 2**20),
            }
            script = SMOKE_SCRIPT if args.smoke else SCRIPT
            rounds = [round_of(stack, n, Path(folder), script) for n in counts]
    if args.json:
        print(json.dumps({**idle, "rounds": rounds}))
        return 0
    print(f"models loaded and warm in {idle['models_load_s']} s, RSS {idle['rss_mb_idle']} MB idle")
    print(
        "| calls | reply p50/p95 ms | barge-in stop p50/max ms | response s | ASR s"
        " | pool waits | CPU s/turn | loop lag p99 s | RSS MB | underruns | passed |"
    )
    for r in rounds:
        print("| " + " | ".join(str(cell) for cell in _cells(r)) + " |")
    return 0


def _cells(r: dict[str, Any]) -> list[object]:
    lat, stop = r["reply_latency_ms"], r["barge_in_stop_ms"]
    return [
        r["calls"],
        f"{lat['p50']:.0f} / {lat['p95']:.0f}",
        f"{stop['p50']:.0f} / {stop['max']:.0f}" if stop["p50"] is not None else "-",
        r["server_response_s"],
        r["asr_s"],
        f"{r['pool_waits']:.0f}",
        r["cpu_s_per_turn"],
        r["loop_lag_p99_s"],
        r["rss_mb"],
        r["underruns"],
        r["passed"],
    ]


if __name__ == "__main__":
    sys.exit(main())
