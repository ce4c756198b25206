"""The simulator's side: Vonage's playout buffer, one per call (what the caller hears, and when).

docs/vonage-protocol.md §3: audio sent faster than real time is buffered, up to
3,072 frames (about 60 s), and played at real time; ``{"action":"clear"}`` stops
playback at once, drops the queue and is answered with ``websocket:cleared``;
``{"action":"notify"}`` is answered with its payload once all audio sent before
it has played. What Vonage does on overflow is not documented: here a frame
that finds the buffer full is dropped and counted, and the report says so.

The clock is lazy, as the per-frame path must stay cheap at hundreds of calls:
``end`` is the time at which everything queued so far will have played. A frame
arriving at ``t`` starts at ``max(end, t)``; nothing runs between frames, and the
only timers are those of notifies waiting for their audio. Contiguous audio is
kept as segments (start time, first frame, count), from which the report draws
the timeline and ``--out`` the real-time WAV.

Choices where Vonage is silent (docs/vonage-protocol.md §3 leaves them open):
a frame late by less than one frame continues the audio it follows (a jitter
buffer's job), and a notify still waiting when a ``clear`` comes is answered
right after ``websocket:cleared`` (its audio is gone either way).
``drop_notify`` never answers a notify: one field report saw Vonage do so (§9).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from simulator.audio import FRAME_MS

FRAME_SECONDS: Final = FRAME_MS / 1000
#: Frames Vonage buffers ("enough for around 60 seconds of audio", §3).
CAPACITY: Final = 3072
#: A frame this much after the audio ran out still continues it.
JOIN_SECONDS: Final = FRAME_SECONDS
#: Per accepted frame: what it holds, and whether a clear dropped it.
AUDIBLE, DROPPED = 1, 2
CLEARED_EVENT: Final = '{"event":"websocket:cleared"}'


@dataclass
class Segment:
    """Audio played without a break: ``count`` frames from ``first``, from ``start``."""

    start: float
    first: int
    count: int = 0
    #: Where a clear (or the socket's end) cut it, if one did.
    cut: float | None = None

    @property
    def end(self) -> float:
        """When its last frame stopped playing."""
        full = self.start + self.count * FRAME_SECONDS
        return full if self.cut is None else min(self.cut, full)


class Playout:
    """The buffer at Vonage's end of one call's socket, on a lazy clock."""

    __slots__ = (
        "_cuts",
        "_starts",
        "_waiting",
        "clears",
        "drop_notify",
        "end",
        "frames",
        "kept",
        "max_buffered",
        "notifies",
        "overflowed",
        "reply",
    )

    def __init__(self, *, keep: bool = False) -> None:
        self.end = 0.0
        #: Never answer a notify (--drop-notify; docs/vonage-protocol.md §9).
        self.drop_notify = False
        #: (start, first frame) of each segment; its frames run to the next one's first.
        self._starts: list[tuple[float, int]] = []
        #: Where a clear or the socket's end cut a segment, by segment number.
        self._cuts: dict[int, float] = {}
        #: One byte per accepted frame: AUDIBLE (not all zeros), | DROPPED by a clear.
        self.frames = bytearray()
        self.kept: list[bytes] | None = [] if keep else None
        self.overflowed = 0
        #: The most audio (s) ever queued and not yet played, counting the frame just in.
        self.max_buffered = 0.0
        #: (time, frames dropped) of each clear.
        self.clears: list[tuple[float, int]] = []
        #: (time asked, time answered) of each notify.
        self.notifies: list[tuple[float, float | None]] = []
        #: Sends a text message to the application now; False once the socket is gone.
        self.reply: Callable[[str], bool] | None = None
        #: Notifies waiting for their audio: index -> (payload, timer).
        self._waiting: dict[int, tuple[Mapping[str, Any], asyncio.TimerHandle]] = {}

    # The per-frame path

    def push(self, t: float, frame: bytes, audible: bool) -> None:
        """A frame from the application at ``t``: queue it, or drop it when full.

        The per-frame path: a few comparisons and one byte appended.
        """
        end = self.end
        if t > end + JOIN_SECONDS:  # the buffer ran dry: new audio starts now
            self._starts.append((t, len(self.frames)))
            end = t
        elif end - t > (CAPACITY - 0.5) * FRAME_SECONDS:  # CAPACITY frames queued
            self.overflowed += 1
            return
        elif end < t:
            end = t
        end += FRAME_SECONDS
        self.end = end
        if end - t > self.max_buffered:  # noqa: PLR1730 - cheaper than max() per frame
            self.max_buffered = end - t
        self.frames.append(AUDIBLE if audible else 0)
        if self.kept is not None:
            self.kept.append(frame)

    # Control messages (§3), in the order they came with the audio

    def control(self, t: float, message: str) -> bool:
        """Act on a text message if it is ``clear`` or ``notify``; True when it was."""
        if '"action"' not in message:
            return False
        try:
            value = json.loads(message)
        except ValueError:
            return False
        if not isinstance(value, dict):
            return False
        action = value.get("action")
        if action == "clear":
            self.clear(t)
        elif action == "notify":
            payload = value.get("payload")
            self.notify(t, payload if isinstance(payload, Mapping) else {})
        else:
            return False
        return True

    def clear(self, t: float) -> None:
        """Stop at once, drop the queue, answer ``websocket:cleared``."""
        dropped = self.cut(t)
        self.clears.append((t, dropped))
        self._send(CLEARED_EVENT)
        waiting, self._waiting = self._waiting, {}
        for index, (payload, timer) in waiting.items():  # their audio is gone: answer now
            timer.cancel()
            self._answer(index, payload)

    def notify(self, t: float, payload: Mapping[str, Any]) -> None:
        """Answer with ``payload`` once the audio queued before it has played."""
        index = len(self.notifies)
        self.notifies.append((t, None))
        if self.drop_notify:
            return
        wait = self.end - t
        if wait <= 0:
            self._answer(index, payload)
            return
        timer = asyncio.get_running_loop().call_later(wait, self._answer_due, index)
        self._waiting[index] = (payload, timer)

    def cut(self, t: float) -> int:
        """Playback stops at ``t`` (a clear, or the socket's end); the frames dropped."""
        if self.end <= t or not self._starts:
            return 0
        dropped = math.floor((self.end - t) / FRAME_SECONDS + 1e-9)
        frames = self.frames
        for i in range(len(frames) - dropped, len(frames)):
            frames[i] |= DROPPED
        last = len(self._starts) - 1
        self._cuts[last] = max(t, self._starts[last][0])
        # What comes next starts a new segment, however soon (the 1e-9 s is below
        # any clock's resolution: it only makes "after the end" strict).
        self.end = t - JOIN_SECONDS - 1e-9
        return dropped

    def close(self, t: float) -> None:
        """The socket is gone: what was queued is not played; no more answers."""
        self.cut(t)
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        self.reply = None

    def _answer_due(self, index: int) -> None:
        payload, _ = self._waiting.pop(index)
        self._answer(index, payload)

    def _answer(self, index: int, payload: Mapping[str, Any]) -> None:
        asked, _ = self.notifies[index]
        self.notifies[index] = (asked, time.monotonic())
        self._send(json.dumps({"event": "websocket:notify", "payload": payload}))

    def _send(self, text: str) -> None:
        if self.reply is not None:
            self.reply(text)

    # What the caller heard

    @property
    def segments(self) -> list[Segment]:
        """The stretches of audio played without a break, in order."""
        starts = self._starts
        if not starts:
            return []
        ends = [first for _, first in starts[1:]] + [len(self.frames)]
        return [
            Segment(start, first, end - first, self._cuts.get(i))
            for i, ((start, first), end) in enumerate(zip(starts, ends, strict=True))
        ]

    @property
    def heard(self) -> int:
        """Frames played at least in part (accepted and not dropped)."""
        frames = self.frames
        return len(frames) - frames.count(DROPPED) - frames.count(AUDIBLE | DROPPED)

    @property
    def heard_audible(self) -> int:
        """Frames played that were not silence."""
        return self.frames.count(AUDIBLE)

    def heard_after(self, t: float) -> float:
        """Seconds of audio played after ``t`` (0 after a clear received at ``t``)."""
        return sum(max(0.0, s.end - max(s.start, t)) for s in self.segments)
