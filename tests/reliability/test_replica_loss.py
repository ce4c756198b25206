"""A replica killed with SIGKILL mid-call, and a Caddy reload.

The kill is the harsh case: the dead replica stays in DNS, as it may for a while
when a container dies, so Caddy still offers it — and, having no connections left,
offers it first (least connections).
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

from stack import Stack
from tests.reliability.helpers import (
    active_per_replica,
    assert_clean,
    call_group,
    first_echo_s,
    max_echo_interval_ms,
)

pytestmark = pytest.mark.reliability

LIVE_CALLS = 10
NEW_CALLS = 4
GAP_BUDGET_MS = 1000.0
#: new calls right after the kill are not delayed by more than this.
DELAY_BUDGET_S = 1.0
NO_GAP_MS = 250.0
RELOADS = 2


async def test_killed_replica_calls_reconnect_to_the_survivor(stack2: Stack) -> None:
    """SIGKILL under live calls: each reconnects, nothing else lost; new calls not delayed."""
    async with call_group(stack2, seconds=8.0) as group:
        live = group.place(LIVE_CALLS)
        await group.wait_echoing(live)
        before = await active_per_replica(stack2.replicas)
        assert sum(before) == LIVE_CALLS
        victim = stack2.replicas[before.index(max(before))]
        await asyncio.to_thread(stack2.testing.kill_replica, victim, keep_in_dns=True)
        assert victim.address in stack2.listed_addresses()

        new = group.place(NEW_CALLS)
        await group.wait_echoing(new)
        reports = await group.reports()
    for report in reports:
        assert_clean(report)
    by_call = dict(zip(map(id, group.calls), reports, strict=True))
    moved = [by_call[id(c)] for c in live if by_call[id(c)].reconnects]
    assert len(moved) == max(before)
    gaps = []
    for report in moved:
        [reconnect] = report.reconnects
        assert reconnect.audio_resumed
        assert reconnect.gap_ms is not None
        gaps.append(float(reconnect.gap_ms))
    assert max(gaps) < GAP_BUDGET_MS, gaps
    for call in new:
        assert by_call[id(call)].reconnects == []
    baseline = statistics.median(first_echo_s(c) for c in live)
    after_kill = [first_echo_s(c) for c in new]
    assert max(after_kill) - baseline < DELAY_BUDGET_S, (baseline, after_kill)
    print(  # the figures docs/reliability.md quotes (pytest -s)
        f"kill: {len(moved)} calls reconnected, gaps ms {sorted(round(g) for g in gaps)};"
        f" new calls' first echo {[round(t, 2) for t in after_kill]} s"
        f" (before the kill: median {baseline:.2f} s)"
    )


async def test_caddy_reload_drops_no_call(stack2: Stack) -> None:
    """Reloads through the admin API under ten live calls: none cut, no gap."""
    async with call_group(stack2, seconds=6.0) as group:
        live = group.place(LIVE_CALLS)
        await group.wait_echoing(live)
        for at in range(1, RELOADS + 1):
            await group.wait_sent(live, 1.5 * at)
            await asyncio.to_thread(stack2.testing.reload_caddy)
        reports = await group.reports()
    for report in reports:
        assert_clean(report)
        assert report.reconnects == []
        assert report.frames.lost == 0
    intervals = [max_echo_interval_ms(call) for call in live]
    assert max(intervals) < NO_GAP_MS, intervals
    print(f"reload x{RELOADS}: longest wait between echoed frames {max(intervals):.0f} ms")
