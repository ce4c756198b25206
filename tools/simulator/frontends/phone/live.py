"""A live caller for the call flow: frames from a person's microphone, the heard audio back.

``simulator call`` sends a signal built before the call; the browser phone
(``server.py``) sends what a microphone captures, as it comes. :class:`LiveAudio`
is the same :class:`~simulator.vonage.stream.CallAudio` the call flow already drives
(``vonage.call.Call`` runs it unchanged), with two differences:

- its frames are not planned: :meth:`LiveAudio.feed` stamps each frame as it
  arrives (the same low-bit stamp as ``audio.stamp_frames``, so that the echo
  check stays a byte-exact lookup even for silence) and sends it to the socket
  at once; the page paces them on a 20 ms grid, as Vonage does (docs/vonage-protocol.md §3);
- the pacer only asks it whether the caller has hung up.

:class:`LivePlayout` is Vonage's playout buffer (``playout.Playout``) that also
hands each frame to the page when it starts playing: at once when the buffer
was empty (an echo), later when the application sent faster than real time (a
prompt). A ``clear`` drops what was still queued, as the caller would not hear it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from simulator.audio import FRAMES_PER_SECOND, STAMP_BITS, Signal, frame_bytes
from simulator.vonage.playout import FRAME_SECONDS, Playout
from simulator.vonage.stream import BytesLike, CallAudio

#: A frame due this soon is sent now rather than on a timer (a timer's own slack).
SEND_NOW_SECONDS = 0.002
#: How far ahead of real time a source may be (a burst after a stall), in frames.
AHEAD_FRAMES = 50
#: Echoes are matched to the last minute of frames (Vonage's buffer holds about as much).
MATCH_FRAMES = 3000


class LivePlayout(Playout):
    """Vonage's playout buffer, whose frames go on to a listener as they start playing."""

    __slots__ = ("_queue", "_timer", "listener")

    def __init__(self) -> None:
        super().__init__()
        #: Takes each frame the caller hears, when they start hearing it.
        self.listener: Callable[[bytes], None] | None = None
        self._queue: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def push(self, t: float, frame: bytes, audible: bool) -> None:
        """Queue the frame as Vonage does; pass it on now or when its turn comes."""
        accepted = len(self.frames)
        super().push(t, frame, audible)
        if len(self.frames) == accepted or self.listener is None:
            return  # dropped on overflow, or no one listening
        starts = self.end - FRAME_SECONDS
        if starts - t <= SEND_NOW_SECONDS and not self._queue:
            self.listener(frame)
            return
        self._queue.append((starts, frame))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(self._loop_time(starts), self._due)

    def cut(self, t: float) -> int:
        """A clear or the socket's end: what was still queued is never heard."""
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return super().cut(t)

    def _due(self) -> None:
        self._timer = None
        now = time.monotonic()
        queue = self._queue
        while queue and queue[0][0] - now <= SEND_NOW_SECONDS:
            _, frame = queue.popleft()
            if self.listener is not None:
                self.listener(frame)
        if queue:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(self._loop_time(queue[0][0]), self._due)

    @staticmethod
    def _loop_time(monotonic: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (monotonic - time.monotonic())


class LiveAudio(CallAudio):
    """A call's audio fed frame by frame from a live source, matched as it comes back."""

    __slots__ = ("arrived_at", "hung_up", "on_rate", "sent", "stale_size", "wrong_size")

    def __init__(self, on_rate: Callable[[int], None] | None = None) -> None:
        #: Told the call's rate when a connect sets it (or a reconnect changes it).
        self.on_rate = on_rate
        #: The frame size before a reconnect changed the rate: such frames are dropped.
        self.stale_size = 0
        # Rate 0 until the first connect: the call flow then calls use_signal.
        self.rate = 0
        super().__init__(Signal(0, []))
        self.playout: LivePlayout = LivePlayout()
        self.frames = []
        self.index = {}
        self.hung_up = False
        #: When each fed frame arrived (monotonic), for the pace the source keeps.
        self.arrived_at: list[float] = []
        self.wrong_size = 0
        self.sent = 0  # frames sent to the socket

    def use_signal(self, signal: Signal) -> None:
        """The connect's rate: frames from now on are of its size; the source is told."""
        self.stale_size = self.frame_size
        self.rate = signal.rate
        self.silence = signal.silence
        if signal.rate and self.on_rate is not None:
            self.on_rate(signal.rate)

    @property
    def done(self) -> bool:
        """Live audio is over when the caller hangs up."""
        return self.hung_up

    @property
    def frame_size(self) -> int:
        """Bytes in one frame at the call's rate (0 before the first connect)."""
        return frame_bytes(self.rate) if self.rate else 0

    def feed(self, frame: BytesLike) -> str | None:
        """One frame from the source: stamped, recorded and sent; why it was refused, if it was."""
        t = time.monotonic()
        if self.hung_up:
            return None  # what a page sends after its hang up is not heard
        if self.stale_size and len(frame) == self.stale_size:
            return None  # still at the rate before a reconnect changed it: not heard
        if problem := self._refusal(frame, t):
            return problem
        if self.sink is None and not self.sent:
            return None  # the rate is known, the socket not open yet: the call has no audio yet
        i = self.n
        stamped = _stamp(frame, i + 1)
        self.frames.append(stamped)
        self.index[stamped] = i
        if i >= MATCH_FRAMES:  # bounded memory: an echo older than this is not matched
            old = i - MATCH_FRAMES
            self.index.pop(self.frames[old], None)
            self.frames[old] = b""
        self.arrived_at.append(t)
        self.sent_at.append(0.0)
        self.recv_at.append(0.0)
        self.n = self.next = i + 1
        sink = self.sink
        if sink is not None:  # while Vonage reconnects, what the caller says is lost (§4)
            if sink.send_frame(stamped):
                self.sent_at[i] = t
                self.sent += 1
            if i % 50 == 0:
                sink.check_buffer()
        return None

    def _refusal(self, frame: BytesLike, t: float) -> str | None:
        if not self.rate:
            return "audio before the call's rate was sent"
        if len(frame) != self.frame_size:
            self.wrong_size += 1
            return f"frame of {len(frame)} bytes; {self.rate} Hz frames are {self.frame_size}"
        if self.arrived_at:
            allowed = (t - self.arrived_at[0]) * FRAMES_PER_SECOND + AHEAD_FRAMES
            if self.n > allowed:
                return (
                    f"frames faster than real time: {self.n + 1} in {t - self.arrived_at[0]:.2f} s"
                )
        return None

    def hang_up(self) -> None:
        """The caller hangs up: the pacer ends the call flow's stream on its next tick."""
        self.hung_up = True

    def send_due(self, k: int) -> bool:
        """The pacer's question: has the call's audio ended (the caller hung up)?"""
        return self.hung_up


def _stamp(frame: BytesLike, number: int) -> bytes:
    """``frame`` with ``number`` in the low bit of its first STAMP_BITS samples (audio.py)."""
    data = bytearray(frame)
    for bit in range(STAMP_BITS):
        pos = 2 * bit  # little-endian: the low byte of sample ``bit``
        data[pos] = (data[pos] & 0xFE) | ((number >> bit) & 1)
    return bytes(data)
