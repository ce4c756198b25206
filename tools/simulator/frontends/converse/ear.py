"""The caller's ear: Vonage's playout buffer, with each frame's time and loudness kept.

Every measurement of ``converse`` is taken here, after the playout buffer and on the
simulator's clock (``time.monotonic``): a frame is heard from the moment the
buffer starts playing it (``Playout.end`` after it was queued: at once when the
buffer was empty, later when the application sent ahead of real time) until 20 ms
later, or until a ``clear`` or the socket's end cuts it. A frame is *audible* when
its RMS is above the threshold (default -50 dBFS): that threshold serves these
measurements only; the playout's own ``AUDIBLE`` flag (any non-zero sample) is
left as the other reports use it.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from dataclasses import dataclass

import numpy as np

from simulator.frontends.phone.live import LivePlayout
from simulator.vonage.playout import FRAME_SECONDS, JOIN_SECONDS

DEFAULT_AUDIBLE_DBFS = -50.0
FULL_SCALE = 32768.0


def loudness_threshold(dbfs: float) -> float:
    """The mean square of 16-bit samples at ``dbfs``."""
    return (FULL_SCALE * 10 ** (dbfs / 20)) ** 2


def mean_square(frame: bytes) -> float:
    """Mean square of a frame's 16-bit little-endian samples."""
    samples = np.frombuffer(frame, "<i2").astype(np.float64)
    return float(np.dot(samples, samples) / samples.size) if samples.size else 0.0


def frame_dbfs(frame: bytes) -> float:
    """A frame's RMS level in dBFS (-inf for digital silence)."""
    power = mean_square(frame)
    return 10 * math.log10(power / FULL_SCALE**2) if power else -math.inf


@dataclass(frozen=True)
class Run:
    """Audible frames heard close together: one reply, by index into the ear's lists."""

    first: int
    last: int
    start: float
    end: float


class Ear(LivePlayout):
    """What the caller hears, frame by frame: start, end, audible."""

    __slots__ = ("_power", "changed", "ends", "loud", "starts")

    def __init__(self, audible_dbfs: float = DEFAULT_AUDIBLE_DBFS) -> None:
        super().__init__()
        self.kept = []  # the frames themselves: replies are transcribed, --out written
        self._power = loudness_threshold(audible_dbfs)
        #: Per accepted frame: when it starts and stops playing, and whether it is audible.
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.loud: list[bool] = []
        #: Set when an audible frame is queued or a clear cuts the queue: waiters look again.
        self.changed = asyncio.Event()

    def push(self, t: float, frame: bytes, audible: bool) -> None:
        """Queue the frame as Vonage does; note when it plays and whether it is audible."""
        accepted = len(self.frames)
        super().push(t, frame, audible)
        if len(self.frames) == accepted:
            return  # overflowed: never heard
        start = self.end - FRAME_SECONDS
        loud = audible and mean_square(frame) > self._power
        self.starts.append(start)
        self.ends.append(start + FRAME_SECONDS)
        self.loud.append(loud)
        if loud:
            self.changed.set()

    def cut(self, t: float) -> int:
        """A clear or the socket's end: frames not yet started are never heard."""
        dropped = super().cut(t)
        i = len(self.starts) - 1
        while i >= 0 and self.starts[i] >= t:
            if self.ends[i] == self.starts[i]:
                break  # cut before
            self.ends[i] = self.starts[i]
            self.loud[i] = False
            i -= 1
        if i >= 0 and self.ends[i] > t:
            self.ends[i] = t
        self.changed.set()
        return dropped

    # Questions about what was heard

    def first_loud(self, since: float, before: float = math.inf) -> int | None:
        """The first audible frame that starts at or after ``since`` and before ``before``."""
        for i in range(bisect.bisect_left(self.starts, since), len(self.starts)):
            if self.starts[i] >= before:
                return None
            if self.loud[i]:
                return i
        return None

    def playing_at(self, t: float) -> int | None:
        """The audible frame being heard at ``t``, if any."""
        i = bisect.bisect_right(self.starts, t) - 1
        if i >= 0 and self.loud[i] and self.ends[i] > t:
            return i
        return None

    def run_from(self, first: int, gap: float, stop: float = math.inf) -> Run:
        """Audible frames from ``first`` on, until a break of ``gap`` s or a frame at ``stop``."""
        last = first
        for i in range(first + 1, len(self.starts)):
            if self.starts[i] >= stop or self.starts[i] - self.ends[last] >= gap:
                break
            if self.loud[i]:
                last = i
        return Run(first, last, self.starts[first], self.ends[last])

    def last_loud_end(self) -> float:
        """When the last audible frame queued so far stops playing (0.0: none yet)."""
        for i in range(len(self.loud) - 1, -1, -1):
            if self.loud[i]:
                return self.ends[i]
        return 0.0

    def breaks_within(self, run: Run) -> int:
        """Underruns inside a run: the buffer ran dry between two of its frames."""
        return sum(
            1
            for i in range(run.first + 1, run.last + 1)
            if self.starts[i] - self.ends[i - 1] > JOIN_SECONDS
            and self.ends[i - 1] > self.starts[i - 1]
        )

    def samples(self, run: Run) -> bytes:
        """The frames of a run as heard (cut frames shortened), for the recognizer."""
        kept = self.kept or []
        parts: list[bytes] = []
        for i in range(run.first, run.last + 1):
            frame = kept[i]
            heard = (self.ends[i] - self.starts[i]) / FRAME_SECONDS
            parts.append(frame[: int(len(frame) * heard) // 2 * 2])
        return b"".join(parts)
