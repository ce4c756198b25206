"""Each turn measured at the caller's ear, after the call: latency, barge-in stop, the verdict.

All times are the simulator's clock (``time.monotonic``). The caller's speech
starts when its first audible frame was sent (the *onset*) and ends when its last
audible frame was sent; a reply starts when its first audible frame starts playing
out of Vonage's buffer (``ear.py``) and ends at the last audible frame heard before
the line is quiet for the turn gap. docs/simulator.md ("Converse") has each figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.frontends.converse.ear import Ear, Run
from simulator.frontends.converse.script import Turn
from simulator.reports.converse_report import TurnResult
from simulator.vonage.playout import FRAME_SECONDS
from simulator.vonage.records import CallRecord, LegEnd


@dataclass
class TurnLog:
    """What the caller did in one turn, as it happened."""

    index: int
    #: When the action began, and the time the reply is measured from (the *reference*):
    #: the last audible frame of the caller's speech, the last key press, or the
    #: silence's start.
    started: float | None = None
    reference: float | None = None
    onset: float | None = None
    queued_at_onset: float = 0.0
    skipped: str = ""


def interrupted_run(ear: Ear, onset: float, reference: float, gap: float) -> Run | None:
    """The reply the caller spoke over: playing at the onset, or begun before the caller stopped.

    It ends at the caller's end unless it was still playing then (it never stopped),
    in which case it runs on until the line is quiet for ``gap``.
    """
    first = ear.playing_at(onset)
    if first is None:
        first = ear.first_loud(onset, before=reference)
    if first is None:
        return None
    run = ear.run_from(first, gap, stop=reference)
    if run.end >= reference - FRAME_SECONDS:
        run = ear.run_from(first, gap)
    return run


def reply_run(ear: Ear, turn: Turn, log: TurnLog, gap: float, stop: float) -> Run | None:
    """The reply to this turn: the first audible frame after the reference, and its run."""
    if log.reference is None:
        return None
    since = log.reference
    if turn.interrupt_after is not None and log.onset is not None:
        spoken_over = interrupted_run(ear, log.onset, log.reference, gap)
        if spoken_over is not None:
            since = max(since, spoken_over.end)
    first = ear.first_loud(since, before=stop)
    return None if first is None else ear.run_from(first, gap, stop)


def measure_turn(
    turn: Turn, log: TurnLog, ear: Ear, record: CallRecord, *, gap: float, stop: float = math.inf
) -> TurnResult:
    """The turn's figures and verdict (``heard_contains`` waits for the transcript)."""
    result = TurnResult(
        turn.index, turn.describe(), turn.expect, heard_contains=turn.heard_contains
    )
    if log.skipped:
        result.fail(f"not played: {log.skipped}")
        return result
    if log.onset is not None and log.reference is not None and turn.interrupt_after is not None:
        result.queued_at_onset_ms = round(log.queued_at_onset * 1000, 1)
        spoken_over = interrupted_run(ear, log.onset, log.reference, gap)
        stop_s = 0.0 if spoken_over is None else max(0.0, spoken_over.end - log.onset)
        result.barge_in_stop_ms = round(stop_s * 1000, 1)
    run = reply_run(ear, turn, log, gap, stop)
    if run is not None and log.reference is not None:
        latency = run.start - log.reference
        result.reply_latency_ms = round(latency * 1000, 1)
        result.reply_ms = round((run.end - run.start) * 1000, 1)
        result.underruns = ear.breaks_within(run)
        result.reply_pcm = ear.samples(run)
        result.rate = record.audio.rate if record.audio is not None else 0
        if turn.expects_reply and latency > turn.within:
            result.fail(f"the reply came after {latency:.2f} s, not within {turn.within:g} s")
    _judge(turn, log, result, ear, record)
    return result


def _judge(turn: Turn, log: TurnLog, result: TurnResult, ear: Ear, record: CallRecord) -> None:
    reference = log.reference or 0.0
    within = f"within {turn.within:g} s"
    if turn.expects_reply and result.reply_latency_ms is None:
        result.fail(f"no reply {within}")
    elif turn.expect == "silence":
        first = ear.first_loud(reference, before=reference + turn.within)
        if first is not None:
            heard_at = ear.starts[first] - reference
            result.fail(f"audio heard {heard_at:.2f} s after the turn, silence expected {within}")
    elif turn.expect in ("hangup", "transfer"):
        ended = api_end(record, turn.expect)
        if ended is None:
            closed = any(leg.end is LegEnd.CLOSED for leg in record.legs)
            note = "; the socket was closed, which Vonage takes for an accident" if closed else ""
            result.fail(f"no {turn.expect} through the REST API {within}{note}")
        elif ended - reference > turn.within:
            result.fail(
                f"{turn.expect} came {ended - reference:.2f} s after the turn, not {within}"
            )


def api_end(record: CallRecord, action: str) -> float | None:
    """When the application's REST ``hangup`` or ``transfer`` ended a socket leg, if it did."""
    for leg in record.legs:
        if leg.end is LegEnd.ENDED_BY_API and leg.detail.endswith(action):
            return leg.ended_at
    return None
