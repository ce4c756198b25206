"""The delayed echo: the caller hears themselves ``delay_ms`` later.

Modelled on FreeSWITCH's ``delay_echo``: each frame is stamped with its arrival
time on the monotonic clock (the event loop's) and sent when that time plus the
delay comes, so the output keeps the input's pacing whatever the load. A single
timer is armed for the oldest queued frame at a time.
"""

from __future__ import annotations

import asyncio
from collections import deque

from audio_socket import Call, CallEnd, CallHandler

#: Frames due within this much of now go out together: timers can fire a
#: little early, and re-arming for a microsecond would only cost wake-ups.
_SLACK_SECONDS = 0.001


class DelayedEchoHandler(CallHandler):
    """Send each frame back ``delay_ms`` after it arrived."""

    __slots__ = ("_call", "_delay", "_loop", "_queue", "_timer")

    def __init__(self, call: Call, delay_ms: int) -> None:
        if delay_ms <= 0:
            raise ValueError("delay_ms must be positive")
        self._call = call
        self._delay = delay_ms / 1000
        self._loop = asyncio.get_running_loop()
        self._queue: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def on_audio(self, frame: bytes) -> None:
        """Queue ``frame`` for arrival time + delay."""
        due = self._loop.time() + self._delay
        self._queue.append((due, frame))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._send_due)

    def on_end(self, end: CallEnd) -> None:
        """Drop what was still waiting: the caller is gone."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def _send_due(self) -> None:
        loop, queue, send = self._loop, self._queue, self._call.send_audio
        limit = loop.time() + _SLACK_SECONDS
        while queue and queue[0][0] <= limit:
            send(queue.popleft()[1])
        self._timer = loop.call_at(queue[0][0], self._send_due) if queue else None
