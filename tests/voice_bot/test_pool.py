"""voice_bot.pool: the bound holds, waits are counted, a cancelled job keeps its thread."""

from __future__ import annotations

import asyncio
import threading

from voice_bot import metrics
from voice_bot.pool import SpeechPool


def waits_counted() -> float:
    return metrics.REGISTRY_USED.get_sample_value("bot_pool_waits_total") or 0.0


async def settle() -> None:
    """Let the jobs just started reach the pool: no thread is involved before they wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_no_more_jobs_run_than_threads() -> None:
    """Five jobs on two threads: two at a time, three wait and are counted."""
    pool = SpeechPool(2)
    running = peak = 0
    lock = threading.Lock()
    gate = threading.Event()

    def job() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        gate.wait(5)
        with lock:
            running -= 1
        return 1

    waits = waits_counted()
    jobs = [asyncio.ensure_future(pool.run(job)) for _ in range(5)]
    await settle()
    assert pool.waiting == 3
    assert pool.busy == 2
    gate.set()
    results = await asyncio.gather(*jobs)
    assert [r for r, _ in results] == [1] * 5
    assert peak == 2
    assert waits_counted() - waits == 3
    assert max(waited for _, waited in results) > 0
    assert (pool.busy, pool.waiting) == (0, 0)


async def test_a_cancelled_job_holds_its_thread_until_it_ends() -> None:
    """Cancelling the awaiting task does not free the thread under a running job."""
    pool = SpeechPool(1)
    started, gate = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        gate.wait(5)

    first = asyncio.ensure_future(pool.run(job))
    await asyncio.to_thread(started.wait, 5)
    first.cancel()
    second = asyncio.ensure_future(pool.run(lambda: "second"))
    await asyncio.sleep(0.01)
    assert pool.busy == 1
    assert not second.done()  # the bound holds: one thread, still busy
    gate.set()
    assert (await second)[0] == "second"
    assert pool.busy == 0


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    """A turn cancelled while it waits for a thread leaves nothing behind."""
    pool = SpeechPool(1)
    gate = threading.Event()
    first = asyncio.ensure_future(pool.run(lambda: gate.wait(5)))
    waiter = asyncio.ensure_future(pool.run(lambda: "never"))
    await settle()
    assert pool.waiting == 1
    waiter.cancel()
    await asyncio.sleep(0)
    assert pool.waiting == 0
    gate.set()
    await first
    assert pool.busy == 0
