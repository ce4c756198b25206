"""How late the event loop runs: the lag every call's frames wait behind.

Every frame of every call in the process goes through one event loop. A handler that
blocks it (a model run on the loop's thread, a synchronous request) delays every
other call's audio, and no per-call figure shows it. This probe arms one timer at a
time, every :data:`PERIOD` seconds, and records how late it fired: ``audio_event_loop
_lag_seconds`` on ``/metrics``. One timer per process, never one per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

#: Seconds between two probes: ten wake-ups a second for the whole process.
PERIOD: Final = 0.1
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LoopLagProbe:
    """Observe the event loop's lag, in seconds, every :data:`PERIOD`."""

    __slots__ = ("_due", "_loop", "_observe", "_timer")

    def __init__(self, observe: Callable[[float], None]) -> None:
        self._observe = observe
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        """Arm the first probe on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._arm(self._loop.time())

    def stop(self) -> None:
        """Stop probing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, now: float) -> None:
        assert self._loop is not None  # noqa: S101 - armed only after start()
        self._due = now + PERIOD
        self._timer = self._loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None  # noqa: S101 - armed only after start()
        now = self._loop.time()
        self._observe(max(0.0, now - self._due))
        self._arm(now)
