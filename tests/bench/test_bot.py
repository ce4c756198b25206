"""tools/bench/bot.py: the voice bot's targets and table from measure_stack.py's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.bot import bot_section, bot_targets
from bench.raw import load_results, save_results
from bench.report import Results, render, targets


def _round(calls: int, p50: float, p95: float, stop: float | None = 21.0) -> dict[str, Any]:
    return {
        "calls": calls,
        "passed": True,
        "reply_latency_ms": {"p50": p50, "p95": p95, "count": 4 * calls},
        "barge_in_stop_ms": {"p50": stop, "max": stop},
        "server_response_s": 0.39,
        "asr_s": 0.18,
        "tts_first_audio_s": 0.04,
        "pool_wait_s": 0.0,
        "pool_waits": 0.0,
        "cpu_s_per_turn": 0.3,
        "loop_lag_p99_s": 0.005,
        "rss_mb": 434,
        "failed_turns": [],
    }


def _figures(*rounds: dict[str, Any]) -> dict[str, Any]:
    return {"models_load_s": 0.9, "rss_mb_idle": 386, "rounds": list(rounds)}


def test_targets_pass_within_their_bounds() -> None:
    """p50 at one call, barge-in at every count, p95 at the most calls."""
    found = bot_targets(_figures(_round(1, 450, 520), _round(16, 900, 1150, 40)))
    assert [(name, passed) for name, _, passed in found] == [
        ("voice bot: reply p50 ≤ 800 ms (1 call)", True),
        ("voice bot: barge-in stop ≤ 200 ms (every call)", True),
        ("voice bot: reply p95 ≤ 1.2 s (16 calls at once)", True),
    ]


def test_targets_fail_past_them() -> None:
    """Each bound is checked on its own figure."""
    found = bot_targets(_figures(_round(1, 1300, 1400, 250), _round(8, 3400, 3700)))
    assert [passed for _, _, passed in found] == [False, False, False]


def test_no_figures_no_targets() -> None:
    """Skipped or not installed: nothing to judge."""
    assert bot_targets(None) == []


def test_the_section_says_why_it_is_missing() -> None:
    """One line naming what is not installed."""
    lines = bot_section(None, "hibari, espeak-ng")
    assert lines[1].startswith("## Voice bot")
    assert lines[-1] == "Not measured: the bot's requirements are missing (hibari, espeak-ng)."


def test_the_report_has_the_table_and_targets(tmp_path: Path) -> None:
    """RESULTS.md shows a row per count and the targets; RESULTS.json keeps the figures."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.bot = _figures(_round(1, 450, 520), _round(4, 550, 790))
    text = render(results)
    assert "| 1 | 450 / 520 | 21 / 21 |" in text
    assert "| 4 | 550 / 790 |" in text
    assert any(t.name.startswith("voice bot: reply p95") for t in targets(results))
    save_results(results, tmp_path / "RESULTS.json")
    assert load_results(tmp_path / "RESULTS.json").bot == results.bot
