"""A conversation's report: a row per turn, reply latency percentiles, the verdict.

``converse`` measures at the caller's ear (frontends/converse/measure.py); this
module only sums up and renders. With ``--calls N`` the rows are every turn of
every call and the percentiles are over all of them; the simulator's own send
lateness says whether the figures can be trusted (as ``load`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.reports.load_report import LATENESS_LIMIT_MS


@dataclass
class TurnResult:
    """One row of the report."""

    index: int
    action: str
    expect: str | None
    call: int = 0
    reply_latency_ms: float | None = None
    barge_in_stop_ms: float | None = None
    queued_at_onset_ms: float | None = None
    reply_ms: float | None = None
    underruns: int = 0
    heard: str | None = None
    passed: bool = True
    why: str = ""
    #: What the reply sounded like (16-bit PCM at ``rate``), kept for the recognizer.
    reply_pcm: bytes = field(default=b"", repr=False)
    rate: int = 0
    heard_contains: tuple[str, ...] = ()

    def fail(self, why: str) -> None:
        """Mark the turn failed, keeping the first reason."""
        if self.passed:
            self.passed, self.why = False, why


@dataclass
class CallSummary:
    """One scripted call: how it ended, what overflowed Vonage's buffer."""

    index: int
    uuid: str
    ended_by: str
    error: str | None = None
    overflowed: int = 0
    turns_passed: int = 0
    turns: int = 0

    @property
    def passed(self) -> bool:
        """Every turn passed and the call itself did not fail."""
        return self.error is None and self.overflowed == 0 and self.turns_passed == self.turns


@dataclass
class ConverseReport:
    """What the scripted calls measured, and whether they passed."""

    turns: list[TurnResult]
    calls: list[CallSummary]
    audible_dbfs: float
    turn_gap_s: float
    #: The simulator's own send lateness, p99 (ms) over the run, and whether it is too late.
    lateness_p99_ms: float = 0.0
    workers: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every turn of every call passed."""
        return all(call.passed for call in self.calls) and all(t.passed for t in self.turns)

    @property
    def slipped(self) -> bool:
        """The simulator sent late enough that its figures measure itself."""
        return self.lateness_p99_ms >= LATENESS_LIMIT_MS

    def percentiles(self, name: str) -> dict[str, float | None]:
        """p50 and p95 of a per-turn figure over every turn that has it."""
        values = [v for t in self.turns if (v := getattr(t, name)) is not None]
        if not values:
            return {"p50": None, "p95": None, "count": 0}
        p50, p95 = np.percentile(values, [50, 95])
        return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "count": len(values)}

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "passed": self.passed,
            "reply_latency_ms": self.percentiles("reply_latency_ms"),
            "barge_in_stop_ms": self.percentiles("barge_in_stop_ms"),
            "turns": [turn_dict(t, len(self.calls) > 1) for t in self.turns],
            "calls": [call_dict(c) for c in self.calls],
            "audible_dbfs": self.audible_dbfs,
            "turn_gap_s": self.turn_gap_s,
            "lateness_p99_ms": round(self.lateness_p99_ms, 2),
            "slipped": self.slipped,
            "notes": self.notes,
        }


def turn_dict(turn: TurnResult, with_call: bool) -> dict[str, Any]:
    """One turn's JSON: both latency fields always present, a number or null."""
    data: dict[str, Any] = {"call": turn.call} if with_call else {}
    return data | {
        "index": turn.index,
        "action": turn.action,
        "expect": turn.expect,
        "reply_latency_ms": turn.reply_latency_ms,
        "barge_in_stop_ms": turn.barge_in_stop_ms,
        "queued_at_onset_ms": turn.queued_at_onset_ms,
        "reply_ms": turn.reply_ms,
        "underruns": turn.underruns,
        "heard": turn.heard,
        "passed": turn.passed,
        "why": turn.why,
    }


def call_dict(call: CallSummary) -> dict[str, Any]:
    """One call's JSON."""
    return {
        "index": call.index,
        "uuid": call.uuid,
        "ended_by": call.ended_by,
        "error": call.error,
        "overflowed": call.overflowed,
        "passed": call.passed,
    }


def render(report: ConverseReport) -> str:
    """The report as text: a row per turn, the percentiles, the calls' problems, the verdict."""
    many = len(report.calls) > 1
    lines = [_row(("call",) * many + ("turn", "action", "expect", "latency", "stop", "result"))]
    for t in report.turns:
        cells = (str(t.call),) * many + (
            str(t.index),
            t.action,
            t.expect or "-",
            _ms(t.reply_latency_ms),
            _ms(t.barge_in_stop_ms),
            "pass" if t.passed else f"FAIL: {t.why}",
        )
        lines.append(_row(cells))
        if t.heard is not None:
            lines.append(f"      heard: {t.heard!r}")
    latency = report.percentiles("reply_latency_ms")
    lines.append(
        f"reply latency at the caller's ear: p50 {_ms(latency['p50'])}, p95 {_ms(latency['p95'])}"
        f" over {latency['count']} replies (audible above {report.audible_dbfs:g} dBFS)"
    )
    for call in report.calls:
        if call.error:
            lines.append(f"call {call.index}: {call.error}")
        if call.overflowed:
            lines.append(f"call {call.index}: {call.overflowed} frames overflowed Vonage's buffer")
    lines.extend(report.notes)
    if report.slipped:
        lines.append(
            f"WARNING: the simulator's own sending ran {report.lateness_p99_ms:.1f} ms late at p99"
            f" (limit {LATENESS_LIMIT_MS:g} ms): these figures measure the simulator, not the"
            " server. Use fewer calls or more --workers."
        )
    lines.append("PASS" if report.passed else "FAIL")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _row(cells: tuple[str, ...]) -> str:
    widths = (5, 5, 34, 9, 9, 9)[-len(cells) :] if len(cells) <= 6 else (5,) * len(cells)
    return "  ".join(c.ljust(w) for c, w in zip(cells, (*widths, 0), strict=False)).rstrip()
