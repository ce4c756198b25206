"""Rolling drain: SIGTERM one of two replicas under ten live calls.

With a long ``DRAIN_TIMEOUT`` the calls finish where they are, with no gap, and the
process exits 0 when the last one ends. With a short one the calls still on it are
closed with 1001 and come back through ``disconnected`` → new ``connect``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import Stack
from tests.reliability.conftest import started
from tests.reliability.helpers import (
    TIMEOUT,
    active_per_replica,
    assert_clean,
    call_group,
    healthy,
    max_echo_interval_ms,
)

pytestmark = pytest.mark.reliability

LIVE_CALLS = 10
NEW_CALLS = 4
#: the audio gap of a drained call's reconnect.
GAP_BUDGET_MS = 1000.0
#: Between two echoed frames of a call that was never cut (20 ms nominal, loaded machine).
NO_GAP_MS = 250.0
SHORT_DRAIN = 2.0


@pytest.fixture
def patient_stack(tmp_path: Path) -> Iterator[Stack]:
    """Two replicas that drain for up to 30 s: the calls end first."""
    yield from started(tmp_path / "stack", 2, DRAIN_TIMEOUT="30")


@pytest.fixture
def hasty_stack(tmp_path: Path) -> Iterator[Stack]:
    """Two replicas that drain for 2 s: calls outlast it."""
    yield from started(tmp_path / "stack", 2, DRAIN_TIMEOUT=str(SHORT_DRAIN))


async def _refused(url: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while await asyncio.to_thread(healthy, url):
        assert time.monotonic() < deadline, "the draining replica still answers"
        await asyncio.sleep(0.05)


async def test_drained_replica_keeps_its_calls_until_they_end(patient_stack: Stack) -> None:
    """Calls on the draining replica echo on with no gap; new calls go to the other one."""
    stack = patient_stack
    async with call_group(stack, seconds=6.0) as group:
        live = group.place(LIVE_CALLS)
        await group.wait_echoing(live)
        before = await active_per_replica(stack.replicas)
        assert sum(before) == LIVE_CALLS
        drained, other = sorted(stack.replicas, key=lambda r: before[stack.replicas.index(r)])[::-1]
        on_drained = before[stack.replicas.index(drained)]
        terminated = time.monotonic()
        await asyncio.to_thread(stack.testing.stop_replica, drained, wait=False)
        await _refused(drained.url)  # stops listening at once, fails its health check

        new = group.place(NEW_CALLS)
        await group.wait_echoing(new)
        # The draining replica's /metrics went with its listener: count the other's.
        [on_other] = await active_per_replica([other])
        assert on_other == LIVE_CALLS - on_drained + NEW_CALLS, "a new call went elsewhere"

        assert await asyncio.to_thread(drained.process.wait, 30.0)
        exited = time.monotonic() - terminated
        reports = await group.reports()
    assert drained.process.returncode == 0
    assert exited < 30.0 - 5.0, "it exited at DRAIN_TIMEOUT, not when its calls ended"
    for report in reports:
        assert_clean(report)
        assert report.reconnects == [], report.reconnects
    intervals = [max_echo_interval_ms(call) for call in live]
    assert max(intervals) < NO_GAP_MS, intervals
    print(  # the figures docs/reliability.md quotes (pytest -s)
        f"drain: {on_drained} calls kept on the draining replica, exit 0 after {exited:.1f} s,"
        f" longest wait between echoed frames {max(intervals):.0f} ms"
    )


async def test_drain_timeout_closes_1001_and_calls_reconnect(hasty_stack: Stack) -> None:
    """At DRAIN_TIMEOUT the calls left get 1001, reconnect elsewhere, gap under 1 s."""
    stack = hasty_stack
    async with call_group(stack, seconds=8.0) as group:
        live = group.place(LIVE_CALLS)
        await group.wait_echoing(live)
        before = await active_per_replica(stack.replicas)
        assert sum(before) == LIVE_CALLS
        drained = stack.replicas[before.index(max(before))]
        terminated = time.monotonic()
        await asyncio.to_thread(stack.testing.stop_replica, drained, wait=False)
        assert await asyncio.to_thread(drained.process.wait, SHORT_DRAIN + TIMEOUT)
        exited = time.monotonic() - terminated
        reports = await group.reports()
    assert drained.process.returncode == 0
    assert exited >= SHORT_DRAIN
    for report in reports:
        assert_clean(report)
    moved = [r for r in reports if r.reconnects]
    assert len(moved) == max(before)
    gaps = []
    for report in moved:
        [reconnect] = report.reconnects
        assert report.legs[0]["close_code"] == 1001, report.legs
        assert [leg["attempt"] for leg in report.legs] == [1, 2]
        assert reconnect.audio_resumed
        assert reconnect.gap_ms is not None
        gaps.append(reconnect.gap_ms)
    assert max(gaps) < GAP_BUDGET_MS, gaps
    print(
        f"drain timeout: {len(moved)} calls closed 1001 after {exited:.1f} s, reconnected;"
        f" gaps ms {sorted(round(float(g)) for g in gaps)}"
    )
