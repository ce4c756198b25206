"""What the caller heard, from the playout model: the timeline and the real-time WAV.

The timeline runs from the call's answer. Each span is what the caller heard
then: ``talk`` (an NCCO talk), ``audio`` (frames from the application that are
not silence), ``silence`` (silent frames, or nothing at all), or ``underrun``
(the buffer ran dry for less than :data:`UNDERRUN_MAX_SECONDS` between two
stretches of audio: the application sent too late).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulator.vonage.playout import AUDIBLE, DROPPED, FRAME_SECONDS, Playout, Segment

#: A longer break between two stretches of audio is silence, not an underrun.
UNDERRUN_MAX_SECONDS = 1.0
AUDIO, SILENCE, TALK, UNDERRUN = "audio", "silence", "talk", "underrun"


@dataclass
class Span:
    """One stretch of the timeline, in seconds from the call's answer."""

    from_s: float
    to_s: float
    heard: str
    text: str = ""

    def as_dict(self) -> dict[str, object]:
        """For the JSON report."""
        data: dict[str, object] = {
            "from_s": round(self.from_s, 3),
            "to_s": round(self.to_s, 3),
            "heard": self.heard,
        }
        if self.text:
            data["text"] = self.text
        return data


def timeline(
    playout: Playout, origin: float, until: float, talks: list[tuple[float, float, str]]
) -> list[Span]:
    """The spans from ``origin`` to ``until`` (monotonic times), gaps filled."""
    played = [span for s in playout.segments for span in _segment_spans(playout, s, origin)]
    spoken = [Span(a - origin, b - origin, TALK, text) for a, b, text in talks]
    spans = sorted(played + spoken, key=lambda span: span.from_s)
    filled: list[Span] = []
    at = 0.0
    for span in spans:
        if span.from_s > at:
            between_audio = bool(filled) and filled[-1].heard != TALK and span.heard != TALK
            short = span.from_s - at < UNDERRUN_MAX_SECONDS
            _add(filled, Span(at, span.from_s, UNDERRUN if between_audio and short else SILENCE))
        _add(filled, span)
        at = max(at, span.to_s)
    if until - origin > at:
        _add(filled, Span(at, until - origin, SILENCE))
    return filled


def _segment_spans(playout: Playout, segment: Segment, origin: float) -> list[Span]:
    kinds = playout.frames[segment.first : segment.first + segment.count]
    spans: list[Span] = []
    end = segment.end
    for i, kind in enumerate(kinds):
        if kind & DROPPED:
            break
        start = segment.start + i * FRAME_SECONDS
        stop = min(start + FRAME_SECONDS, end)
        if stop <= start:
            break
        _add(spans, Span(start - origin, stop - origin, AUDIO if kind & AUDIBLE else SILENCE))
    return spans


def _add(spans: list[Span], span: Span) -> None:
    """Append, joining a span to the previous one of the same kind that it touches."""
    if spans:
        last = spans[-1]
        if last.heard == span.heard and last.text == span.text and span.from_s - last.to_s < 1e-6:
            last.to_s = max(last.to_s, span.to_s)
            return
    spans.append(span)


def heard_samples(
    playout: Playout, rate: int, origin: float, until: float
) -> npt.NDArray[np.int16]:
    """What the caller heard as 16-bit samples at ``rate``, each frame at its real time.

    Needs the frames kept (``Playout(keep=True)``); silence where nothing played.
    """
    kept = playout.kept or []
    total = max(0, round((until - origin) * rate))
    out = np.zeros(total, np.int16)
    for segment in playout.segments:
        end = round((segment.end - origin) * rate)
        for i in range(segment.count):
            index = segment.first + i
            if playout.frames[index] & DROPPED or index >= len(kept):
                break
            start = round((segment.start + i * FRAME_SECONDS - origin) * rate)
            frame = np.frombuffer(kept[index], "<i2")
            stop = min(start + len(frame), end, total)
            if stop <= start:
                break
            out[start:stop] = frame[: stop - start]
    return out


@dataclass
class Heard:
    """The report's account of what the caller heard (its ``heard`` object)."""

    seconds: float = 0.0
    audible_s: float = 0.0
    overflowed: int = 0
    max_buffered_ms: float = 0.0
    underruns: int = 0
    underrun_ms: float = 0.0
    clears: list[dict[str, float]] = field(default_factory=list)
    notifies: list[dict[str, float | None]] = field(default_factory=list)
    timeline: list[dict[str, object]] = field(default_factory=list)


def summarize(
    playout: Playout, origin: float, until: float, talks: list[tuple[float, float, str]]
) -> Heard:
    """What the caller heard, in figures, times in seconds from ``origin``."""
    spans = timeline(playout, origin, until, talks)
    underruns = [s for s in spans if s.heard == UNDERRUN]
    return Heard(
        seconds=round(playout.heard * FRAME_SECONDS, 3),
        audible_s=round(playout.heard_audible * FRAME_SECONDS, 3),
        overflowed=playout.overflowed,
        max_buffered_ms=round(playout.max_buffered * 1000, 1),
        underruns=len(underruns),
        underrun_ms=round(sum(s.to_s - s.from_s for s in underruns) * 1000, 1),
        clears=[
            {
                "at_s": round(at - origin, 3),
                "dropped_frames": dropped,
                # What played after the clear was received: new audio only.
                "heard_after_ms": round(playout.heard_after(at) * 1000, 1),
            }
            for at, dropped in playout.clears
        ],
        notifies=[
            {
                "asked_s": round(asked - origin, 3),
                "answered_s": None if answered is None else round(answered - origin, 3),
            }
            for asked, answered in playout.notifies
        ],
        timeline=[span.as_dict() for span in spans],
    )


#: Timeline lines shown in the text report (all of them are in the JSON).
SHOWN_SPANS = 20


def render_heard(heard: Heard) -> list[str]:
    """The text report's lines about what the caller heard."""
    lines = [
        f"  heard     {heard.seconds:.2f} s ({heard.audible_s:.2f} s not silence),"
        f" Vonage's buffer at most {heard.max_buffered_ms:.0f} ms,"
        f" {heard.overflowed} frames overflowed,"
        f" {heard.underruns} underruns ({heard.underrun_ms:.0f} ms)"
    ]
    lines.extend(
        f"  clear     at {c['at_s']:.2f} s: {c['dropped_frames']:.0f} frames dropped,"
        f" {c['heard_after_ms']:.0f} ms heard after it"
        for c in heard.clears
    )
    for n in heard.notifies:
        answered = (
            "never answered" if n["answered_s"] is None else f"answered {n['answered_s']:.2f} s"
        )
        lines.append(f"  notify    at {n['asked_s']:.2f} s, {answered}")
    for i, span in enumerate(heard.timeline[:SHOWN_SPANS]):
        label = "timeline " if i == 0 else " " * 9
        text = f' "{span["text"]}"' if "text" in span else ""
        lines.append(f"  {label} {span['from_s']:6.2f}-{span['to_s']:6.2f} s {span['heard']}{text}")
    if len(heard.timeline) > SHOWN_SPANS:
        lines.append(f"            ... {len(heard.timeline) - SHOWN_SPANS} more (--json has all)")
    return lines
