"""The speech pool: a fixed number of threads that every call's ASR and TTS share.

Threads, not processes: CTranslate2 and ONNX Runtime release the GIL while they
compute, so the event loop keeps its 20 ms pace beside them (README.md beside this
package has the measurement). The pool is bounded twice: ``workers`` threads, and a
job is handed to the executor only once a thread is free, so its queue never
grows; a job that finds every thread busy waits here, is counted, and its wait is
observed. Each call has at most one job waiting, so the waiters are bounded by the
calls the service admits (``MAX_CALLS``).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from voice_bot import metrics

__all__ = ["SpeechPool"]

T = TypeVar("T")
_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


class SpeechPool:
    """``workers`` threads; ``run`` waits for a free one, then runs the job there."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="voice-bot-speech")
        self._lock = threading.Lock()
        self._busy = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()

    async def run(self, job: Callable[[], T]) -> tuple[T, float]:
        """Run ``job`` in a thread of the pool: its result, and the seconds it waited for one.

        Cancelling the caller does not free the thread before the job ends: the slot
        is given back when the job has finished, so the bound holds.
        """
        asked = time.perf_counter()
        await self._acquire()
        waited = time.perf_counter() - asked
        metrics.POOL_WAIT.observe(waited)
        submitted: Future[T] = self.executor.submit(job)
        submitted.add_done_callback(lambda _: self._release())
        return await asyncio.wrap_future(submitted), waited

    @property
    def busy(self) -> int:
        """Threads running a job now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Jobs waiting for a thread now."""
        return len(self._waiters)

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._busy < self.workers:
                self._busy += 1
                return
            waiter: _Waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        metrics.POOL_WAITS.inc()
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                # else a slot is on its way to this waiter: _hand_over gives it back
            raise

    def _release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, waiting = self._waiters.popleft()
                if not loop.is_closed():  # the slot stays busy: it changes hands
                    loop.call_soon_threadsafe(self._hand_over, waiting)
                    return
            self._busy -= 1

    def _hand_over(self, waiting: asyncio.Future[None]) -> None:
        if waiting.done():  # cancelled since: the next waiter, or nobody, gets the slot
            self._release()
        else:
            waiting.set_result(None)
