"""One pacing loop per process: every call's frames leave on a 20 ms schedule.

A timer or task per call per frame would cost more than the frame itself at
hundreds of calls. Instead one loop wakes ten times per 20 ms period and, on
each tick, sends the due frame of the calls placed on that tick — each call is
placed on the least busy of the ten, so the work is spread evenly. When the
loop falls behind, the calls it missed send their late frames at once (as a
real sender catching up would) and the lateness is recorded per frame.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from simulator.vonage.stream import TICK_SECONDS, TICKS_PER_FRAME, CallAudio


class Pacer:
    """Sends the due frame of every active call on a shared monotonic schedule."""

    def __init__(self) -> None:
        self.epoch = time.monotonic()
        self._ticks: list[list[CallAudio]] = [[] for _ in range(TICKS_PER_FRAME)]
        self._k = 0
        self._active = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Lateness (s) of the last frame of each busy tick: for live progress only.
        self.recent_lateness: deque[float] = deque(maxlen=10_000)

    @property
    def active(self) -> int:
        """Calls currently on the schedule."""
        return self._active

    def tick_time(self, k: int) -> float:
        """Monotonic time at which tick ``k`` is due."""
        return self.epoch + k * TICK_SECONDS

    def add(self, audio: CallAudio) -> asyncio.Future[None]:
        """Put a call on the schedule; the future resolves once its last frame fell due."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pacer")
        if self._active == 0:
            self._k = max(self._k, self._now_tick())
        place = min(range(TICKS_PER_FRAME), key=lambda j: len(self._ticks[j]))
        first = self._k + (place - self._k) % TICKS_PER_FRAME
        audio.next_k = first + audio.next * TICKS_PER_FRAME
        audio.due0 = self.tick_time(first) - audio.next * TICKS_PER_FRAME * TICK_SECONDS
        audio.finished = asyncio.get_running_loop().create_future()
        self._ticks[place].append(audio)
        self._active += 1
        self._wake.set()
        return audio.finished

    def remove(self, audio: CallAudio) -> None:
        """Take a call off the schedule before its end (the call failed)."""
        for tick in self._ticks:
            if audio in tick:
                tick.remove(audio)
                self._active -= 1
                if audio.finished is not None and not audio.finished.done():
                    audio.finished.cancel()

    async def close(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _now_tick(self) -> int:
        return math.ceil((time.monotonic() - self.epoch) / TICK_SECONDS)

    async def _run(self) -> None:
        while True:
            if self._active == 0:
                self._wake.clear()
                await self._wake.wait()
            due = self.tick_time(self._k)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send_tick(self._k, due)
            self._k += 1

    def _send_tick(self, k: int, due: float) -> None:
        tick = self._ticks[k % TICKS_PER_FRAME]
        if not tick:
            return
        ended: list[tuple[CallAudio, BaseException | None]] = []
        for audio in tick:
            try:
                if audio.send_due(k):
                    ended.append((audio, None))
            except Exception as exc:  # one call's failure must not stop the others
                ended.append((audio, exc))
        self.recent_lateness.append(time.monotonic() - due)
        for audio, failure in ended:
            tick.remove(audio)
            self._active -= 1
            if audio.finished is not None and not audio.finished.done():
                if failure is None:
                    audio.finished.set_result(None)
                else:
                    audio.finished.set_exception(failure)
