"""What one call measured: frames, the echo check, round trips, reconnect gaps.

Definitions (all from the per-frame send and receive times of ``CallAudio``):

* a frame is *echoed* when a binary message equal to it came back;
* *round trip*: its echo's arrival minus its departure; the *lag* is the median
  round trip, which aligns each echoed frame with the one sent — about 0 for an
  echo, the configured delay for a delayed echo;
* a *reconnect gap* runs from the last frame echoed before a reconnect to the
  first echoed after it; frames lost inside it are excused, as long as audio did
  come back after it. Any other frame not echoed is *lost outside a gap*;
* the call *passed* when it ran to the end, lost nothing outside a gap, and the
  echo was byte-exact: every non-silent message back equals a frame sent, none
  twice, in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.audio import FRAME_MS
from simulator.reports.heard import AUDIO, SILENCE, Heard, render_heard, summarize
from simulator.vonage.playout import CAPACITY
from simulator.vonage.records import CallRecord, LegRecord
from simulator.vonage.stream import FRAME_SECONDS, CallAudio

Floats = npt.NDArray[np.float64]

#: What ``--expect`` may say the call sounds like.
ECHO = "echo"
EXPECTATIONS = (ECHO, AUDIO, SILENCE)


def percentiles(values: Floats) -> dict[str, float]:
    """p50/p90/p99/max (ms, rounded) of a sample; empty when there is none."""
    if values.size == 0:
        return {}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "max": round(float(values.max()), 2),
    }


@dataclass
class Frames:
    """Frame counts."""

    planned: int = 0
    sent: int = 0
    received: int = 0
    echoed: int = 0
    lost: int = 0
    lost_in_gaps: int = 0
    lost_outside_gaps: int = 0
    silent: int = 0
    unmatched: int = 0
    duplicates: int = 0
    out_of_order: int = 0


@dataclass
class Echo:
    """The echo check."""

    byte_exact: bool = False
    mode: str = "none"
    lag_ms: float | None = None
    lag_frames: int | None = None


@dataclass
class Reconnect:
    """One reconnect and the audio gap it caused."""

    at_s: float
    cause: str
    failed_attempts: int
    reconnect_ms: float | None
    gap_ms: float | None
    frames_lost: int
    audio_resumed: bool


@dataclass
class CallReport:
    """The report of one call; the per-frame arrays stay out of the JSON."""

    passed: bool
    error: str | None
    uuid: str
    conversation_uuid: str
    rate: int | None
    seconds: float
    duration_s: float
    frames: Frames
    echo: Echo
    round_trip_ms: dict[str, float]
    send_lateness_ms: dict[str, float]
    reconnects: list[Reconnect]
    events: list[dict[str, Any]]
    talks: list[str]
    talk_s: float
    events_failed: list[str]
    dtmf_sent: str
    text_messages: int
    legs: list[dict[str, Any]]
    #: What the call was expected to sound like (``--expect``).
    expect: str = ECHO
    heard: Heard = field(default_factory=Heard)
    #: Who ended the call: "caller", or "application: hangup|transfer" (REST, §8).
    ended_by: str = "caller"
    #: Every REST request about the call the Voice REST API received, in order.
    rest_requests: list[dict[str, Any]] = field(default_factory=list)
    #: What those requests put into the call: talk texts, DTMF digits, stream URLs.
    rest_talks: list[str] = field(default_factory=list)
    rest_dtmf: list[str] = field(default_factory=list)
    #: Binary messages back that were not one 20 ms frame, and [first size, expected].
    wrong_size: int = 0
    wrong_size_first: list[int] | None = None
    #: The NCCO actions run besides talk and connect (wait, notify, input), in order.
    actions: list[str] = field(default_factory=list)
    rtt_ms: Floats = field(repr=False, default_factory=lambda: np.zeros(0))
    #: When each frame of ``rtt_ms`` left (``time.monotonic()`` seconds).
    rtt_at_s: Floats = field(repr=False, default_factory=lambda: np.zeros(0))
    lateness_ms: Floats = field(repr=False, default_factory=lambda: np.zeros(0))

    def as_dict(self) -> dict[str, Any]:
        """The JSON object ``--json`` prints."""
        data = asdict(self)
        del data["rtt_ms"], data["rtt_at_s"], data["lateness_ms"]
        return data


def build_report(record: CallRecord, expect: str = ECHO) -> CallReport:
    """Figures from the raw record of one call, and its verdict against ``expect``.

    ``echo``: every frame sent came back byte-exact (outside reconnect gaps);
    ``audio``: the caller heard audio and nothing overflowed Vonage's buffer;
    ``silence``: the caller heard nothing but silence.
    """
    audio = record.audio
    frames, echo, heard = Frames(), Echo(), Heard()
    rtt = rtt_at = lateness = np.zeros(0)
    reconnects: list[Reconnect] = []
    if audio is not None:
        heard = summarize(audio.playout, record.started_at, record.ended_at, record.talk_spans)
        sent, recv = _times(audio)
        echoed = (sent > 0) & (recv > 0)
        rtt, rtt_at = (recv - sent)[echoed] * 1000, sent[echoed]
        due = audio.due0 + np.arange(sent.size) * FRAME_SECONDS
        lateness = (sent - due)[sent > 0] * 1000
        reconnects, excused = _reconnects(record, sent, recv)
        for end_frame in record.api_end_frames:
            # A REST hangup or transfer ends the leg with frames still in flight: their
            # echo cannot come back, and they are no loss. Nor is a frame the pacer sent
            # while the leg was being torn down, up to the next one that came back.
            came_back = np.flatnonzero(recv[:end_frame] > 0)
            after = int(came_back[-1]) + 1 if came_back.size else 0
            later = np.flatnonzero(recv[end_frame:] > 0)
            stop = end_frame + int(later[0]) if later.size else recv.size
            excused[after:stop] = True
        frames = _frames(audio, sent, recv, excused)
        echo = _echo(frames, rtt)
    error = record.error
    if expect == ECHO:
        passed = error is None and frames.lost_outside_gaps == 0 and echo.byte_exact
        if error is None and not passed:
            error = _audio_problem(frames, echo)
    elif error is None:
        error = _heard_problem(expect, heard, frames)
        passed = error is None
    else:
        passed = False
    if error is None and record.events_failed:
        # The call went on, as on Vonage; the application still missed events it is owed.
        passed = False
        count = len(record.events_failed)
        error = f"{count} event webhook(s) failed: {record.events_failed[0]}"
    return CallReport(
        passed=passed,
        error=error,
        uuid=record.uuid,
        conversation_uuid=record.conversation_uuid,
        rate=audio.rate if audio is not None else None,
        seconds=record.seconds,
        duration_s=round(record.ended_at - record.started_at, 3),
        frames=frames,
        echo=echo,
        round_trip_ms=percentiles(rtt),
        send_lateness_ms=percentiles(lateness),
        reconnects=reconnects,
        events=[e.as_dict() for e in record.exchanges],
        talks=list(record.talks),
        talk_s=round(record.talk_seconds, 2),
        events_failed=list(record.events_failed),
        dtmf_sent="".join(d for _, d in audio.dtmf_sent) if audio else "",
        text_messages=record.text_messages,
        legs=[_leg_dict(leg) for leg in record.legs],
        expect=expect,
        heard=heard,
        ended_by=record.ended_by,
        rest_requests=list(record.api.requests) if record.api else [],
        rest_talks=list(record.api.talks) if record.api else [],
        rest_dtmf=list(record.api.dtmf) if record.api else [],
        wrong_size=sum(leg.wrong_size for leg in record.legs),
        wrong_size_first=_first_wrong_size(record),
        actions=list(record.actions),
        rtt_ms=rtt,
        rtt_at_s=rtt_at,
        lateness_ms=lateness,
    )


def _times(audio: CallAudio) -> tuple[Floats, Floats]:
    """Send and echo times of the frames that fell due (0 = never)."""
    due = audio.next
    return np.array(audio.sent_at[:due]), np.array(audio.recv_at[:due])


def _frames(audio: CallAudio, sent: Floats, recv: Floats, excused: npt.NDArray[np.bool_]) -> Frames:
    lost = recv == 0
    return Frames(
        planned=audio.n,
        sent=int((sent > 0).sum()),
        received=audio.received,
        echoed=int((recv > 0).sum()),
        lost=int(lost.sum()),
        lost_in_gaps=int((lost & excused).sum()),
        lost_outside_gaps=int((lost & ~excused).sum()),
        silent=audio.silent,
        unmatched=audio.unmatched,
        duplicates=audio.duplicates,
        out_of_order=audio.out_of_order,
    )


def _echo(frames: Frames, rtt: Floats) -> Echo:
    if frames.echoed == 0:
        return Echo()
    lag = float(np.median(rtt)) if rtt.size else 0.0
    lag_frames = round(lag / FRAME_MS)
    exact = frames.unmatched == 0 and frames.duplicates == 0 and frames.out_of_order == 0
    return Echo(
        byte_exact=exact,
        mode="echo" if lag_frames == 0 else "delayed echo",
        lag_ms=round(lag, 2),
        lag_frames=lag_frames,
    )


def _reconnects(
    record: CallRecord, sent: Floats, recv: Floats
) -> tuple[list[Reconnect], npt.NDArray[np.bool_]]:
    """Each reconnect after audio had started, and the frames its gap excuses."""
    excused = np.zeros(sent.size, dtype=bool)
    echoed = np.flatnonzero(recv > 0)
    reconnects: list[Reconnect] = []
    opened = [leg for leg in record.legs if leg.opened_at is not None]
    for previous, leg in pairwise(opened):
        between = record.legs[previous.number : leg.number - 1]
        boundary = leg.first_frame
        before = echoed[echoed < boundary]
        after = echoed[echoed >= boundary]
        last = int(before[-1]) if before.size else -1
        first = int(after[0]) if after.size else sent.size
        resumed = bool(after.size)
        if resumed:
            excused[last + 1 : first] = True
        gap = None
        if resumed and last >= 0:
            gap = (recv[first] - recv[last] - FRAME_SECONDS) * 1000
        reconnect_ms = None
        if previous.ended_at is not None and leg.opened_at is not None:
            reconnect_ms = (leg.opened_at - previous.ended_at) * 1000
        reconnects.append(
            Reconnect(
                at_s=round(boundary * FRAME_SECONDS, 2),
                cause=previous.detail,
                failed_attempts=len(between),
                reconnect_ms=None if reconnect_ms is None else round(reconnect_ms, 1),
                gap_ms=None if gap is None else round(max(gap, 0.0), 1),
                frames_lost=int((recv[last + 1 : first] == 0).sum()),
                audio_resumed=resumed,
            )
        )
    return reconnects, excused


def _audio_problem(frames: Frames, echo: Echo) -> str:
    if frames.received == 0 and frames.echoed == 0:
        return "no audio came back"
    if frames.echoed == 0:
        return (
            f"audio came back ({_count(frames.received, 'message')}: {frames.unmatched} of"
            f" other audio, {frames.silent} silent), but none of it echoed a frame sent"
            " (a handler that does not echo: --expect audio)"
        )
    if frames.lost_outside_gaps:
        return (
            f"{frames.lost_outside_gaps} of {_count(frames.sent, 'frame')} sent never came back"
            " (outside any reconnect gap)"
        )
    parts = [
        f"{count} {what}"
        for count, what in (
            (frames.unmatched, "messages back matched no frame sent"),
            (frames.duplicates, "frames came back twice"),
            (frames.out_of_order, "frames came back out of order"),
        )
        if count
    ]
    return "echo not byte-exact: " + ", ".join(parts) if parts else f"echo check failed ({echo})"


def _heard_problem(expect: str, heard: Heard, frames: Frames) -> str | None:
    """Why the call does not sound as ``expect`` says, or None when it does."""
    if heard.overflowed:
        return (
            f"{heard.overflowed} frames overflowed Vonage's buffer of {CAPACITY} frames:"
            " send prompts at real time (play(), not send_audio)"
        )
    if expect == AUDIO and not heard.audible_s:
        if not frames.received:
            return "no audio came back"
        return f"the caller heard only silence ({_count(frames.received, 'message')} came back)"
    if expect == SILENCE and heard.audible_s:
        return f"the caller heard {heard.audible_s:.2f} s of audio, not silence"
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _first_wrong_size(record: CallRecord) -> list[int] | None:
    for leg in record.legs:
        if leg.first_wrong_size is not None:
            return [leg.first_wrong_size, leg.frame_size]
    return None


def _leg_dict(leg: LegRecord) -> dict[str, Any]:
    return {
        "number": leg.number,
        "uri": leg.uri,
        "attempt": leg.attempt,
        "end": leg.end,
        "detail": leg.detail,
        "close_code": leg.close_code,
        "frames": [leg.first_frame, leg.end_frame],
    }


def render(report: CallReport) -> str:
    """The report as text."""
    f, e, rtt = report.frames, report.echo, report.round_trip_ms
    lines = [
        f"call {report.uuid}: {'PASSED' if report.passed else 'FAILED'}"
        + (f" — {report.error}" if report.error else ""),
        f"  audio     {report.rate or '-'} Hz, {report.seconds:g} s planned,"
        f" {report.duration_s:.1f} s call",
        f"  frames    sent {f.sent}/{f.planned}, received {f.received}, echoed {f.echoed},"
        f" lost {f.lost} ({f.lost_in_gaps} in reconnect gaps, {f.lost_outside_gaps} outside)",
    ]
    if e.lag_ms is not None:
        exact = "byte-exact" if e.byte_exact else "NOT byte-exact"
        lines.append(
            f"  echo      {e.mode}, {exact}, lag {e.lag_ms:.1f} ms ({e.lag_frames} frames)"
        )
    else:
        lines.append(
            "  echo      none: nothing came back"
            if f.received == 0
            else "  echo      none: no message that came back matched a frame sent"
        )
    if f.silent or f.unmatched:
        lines.append(f"            {f.silent} silent and {f.unmatched} unmatched messages back")
    if report.wrong_size_first is not None:
        size, expected = report.wrong_size_first
        lines.append(
            f"            {_count(report.wrong_size, 'binary message')} of the wrong size"
            f" (the first {size} bytes; one 20 ms frame is {expected})"
        )
    if rtt:
        lines.append(
            f"  round trip p50 {rtt['p50']:.1f} ms, p90 {rtt['p90']:.1f},"
            f" p99 {rtt['p99']:.1f}, max {rtt['max']:.1f}"
        )
    late = report.send_lateness_ms
    if late:
        lines.append(
            f"  sent late p50 {late['p50']:.2f} ms, p99 {late['p99']:.2f}, max {late['max']:.2f}"
        )
    for r in report.reconnects:
        gap = "audio never resumed" if r.gap_ms is None else f"audio gap {r.gap_ms:.0f} ms"
        lines.append(
            f"  reconnect at {r.at_s:.1f} s: {gap}, {r.frames_lost} frames lost,"
            f" {r.failed_attempts} failed attempts — after {r.cause}"
        )
    if report.dtmf_sent:
        lines.append(f"  dtmf      {report.dtmf_sent}")
    if report.actions:
        lines.append(f"  actions   {', '.join(report.actions)}")
    lines.extend(render_heard(report.heard))
    lines.append(f"  ended by  {report.ended_by}")
    for request in report.rest_requests:
        lines.append(
            f"  REST      {request.get('method')} {request.get('path')}"
            f" ({request.get('action')}): {request.get('status')}"
            + (f" — {request['error']}" if request.get("error") else "")
        )
    for text in report.rest_talks:
        lines.append(f"  REST talk {text}")
    for digits in report.rest_dtmf:
        lines.append(f"  REST dtmf {digits}")
    lines.append("  events    " + ", ".join(_exchange_text(x) for x in report.events))
    lines.extend(f"  FAILED    {line}" for line in report.events_failed)
    return "\n".join(lines)


def _exchange_text(exchange: dict[str, Any]) -> str:
    status = exchange.get("error", exchange.get("status", "?"))
    leg = f" (leg {exchange['leg']})" if "leg" in exchange else ""
    return f"{exchange['kind']}{leg} {status}" + (
        " +NCCO" if exchange.get("ncco") and exchange["kind"] != "answer" else ""
    )
