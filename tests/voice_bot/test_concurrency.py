"""Several bot calls in one process: one model set, the pool's bound, a loop that keeps time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from voice_bot import make_voice_bot, metrics
from voice_bot.models import Runtime, start_loading

from audio_socket.testing import CallTester
from tests.voice_bot.helpers import Recorder, Speak, run_until, settings

CALLS = 3
LINES = (
    "I need to cancel my appointment on Friday.",
    "The package was delivered to the wrong address.",
    "My flight has been delayed by three hours.",
)


async def test_calls_share_the_models_and_the_pool_bound_holds(
    runtime: Runtime, speak: Speak
) -> None:
    """Three calls speak at once on two threads: one waits, all are answered, the
    threads never run more than two jobs, and the event loop is never held up."""
    bots = [Recorder() for _ in range(CALLS)]
    testers = [CallTester(make_voice_bot(bot), settings=settings()) for bot in bots]
    waits = metrics.REGISTRY_USED.get_sample_value("bot_pool_waits_total") or 0.0
    busiest = 0
    lag = LoopLag()
    lines = [speak(line) for line in LINES]  # flite runs here, not while the lag is probed
    for tester in testers:
        await tester.begin()
    lag.start()
    try:
        await asyncio.gather(*(run_until(t, greeted(t), "greeted") for t in testers))
        # every caller's line arrives at the same moments: their turns end together
        await asyncio.gather(*(t.send_audio(p) for t, p in zip(testers, lines, strict=True)))

        def answered() -> bool:
            nonlocal busiest
            busiest = max(busiest, runtime.pool.busy)
            return all(len(bot.exchanges) == 2 for bot in bots)

        await asyncio.gather(*(run_until(t, answered, "every call answered") for t in testers))
    finally:
        lag.stop()
        for tester in testers:
            await tester.finish()
    assert start_loading(2).result() is runtime  # one model set for every call
    assert busiest <= runtime.pool.workers == 2
    assert (metrics.REGISTRY_USED.get_sample_value("bot_pool_waits_total") or 0.0) > waits
    assert runtime.models.idle_vads() >= CALLS  # each call's VAD back, reset, for the next
    assert all(bot.heard for bot in bots)
    assert lag.worst < 0.05, f"the event loop was held up {lag.worst * 1000:.0f} ms"


def greeted(tester: CallTester) -> Callable[[], bool]:
    return lambda: tester.call.tasks == 0 and tester.sent_seconds > 2


class LoopLag:
    """How late a 10 ms timer runs, the worst seen: what every call's frames wait behind."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._probe())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - asked - 0.01)
