"""Replicas coming and going behind Caddy's DNS discovery (the Caddyfile's promises)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from stack import Stack
from tests.e2e.conftest import start_stack
from tests.e2e.helpers import (
    FRAME_BYTES,
    TIMEOUT,
    answered_call_endpoint,
    calls_active,
    open_call,
    wait_idle,
)

pytestmark = pytest.mark.e2e

#: "A dead replica costs a new call at most a fraction of a second" (caddy/Caddyfile):
#: one refused dial, then 100 ms (lb_try_interval), with room for a loaded machine.
DEAD_REPLICA_BUDGET = 0.75


@pytest.fixture(scope="module")
def stack2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of two replicas that these tests kill, restart and add to."""
    stack = start_stack(tmp_path_factory.mktemp("stack2"), audio_replicas=2)
    try:
        yield stack
    finally:
        stack.stop()


async def _connect_and_echo(stack: Stack) -> float:
    """Seconds from the upgrade request to the first echoed frame of a new call."""
    endpoint = await answered_call_endpoint(stack)
    started = time.monotonic()
    async with open_call(stack, endpoint) as call:
        frame = os.urandom(FRAME_BYTES)
        await call.send(frame)
        async with asyncio.timeout(TIMEOUT):
            assert await call.recv() == frame
        return time.monotonic() - started


async def test_dead_replica_still_in_dns_costs_a_new_call_a_fraction_of_a_second(
    stack2: Stack,
) -> None:
    """Killed but still listed: calls go to the live replica, each within the budget."""
    dead, live = stack2.replicas
    stack2.testing.kill_replica(dead, keep_in_dns=True)
    assert dead.address in stack2.listed_addresses()
    try:
        durations = [await _connect_and_echo(stack2) for _ in range(4)]
        assert max(durations) < DEAD_REPLICA_BUDGET, durations
        assert not dead.process.alive
    finally:
        stack2.testing.start_replica(dead)
    assert sorted(stack2.listed_addresses()) == sorted([dead.address, live.address])


async def test_added_replica_is_found_through_dns(stack2: Stack) -> None:
    """A replica started later is listed once healthy, and Caddy sends calls to it."""
    wait_idle(stack2)
    added = stack2.testing.add_replica()
    assert added.address in stack2.listed_addresses()
    endpoints = [await answered_call_endpoint(stack2) for _ in range(3)]
    async with open_call(stack2, endpoints[0]) as one, open_call(stack2, endpoints[1]) as two:
        for call in (one, two):
            await call.send(b"\0" * FRAME_BYTES)
            await call.recv()
        async with open_call(stack2, endpoints[2]) as three:
            await three.send(b"\0" * FRAME_BYTES)
            await three.recv()
            assert [calls_active(r) for r in stack2.replicas] == [1, 1, 1]


async def test_stopped_replica_drains_its_call_and_takes_no_new_one(stack2: Stack) -> None:
    """SIGTERM: the live call goes on, new calls go elsewhere, the replica exits."""
    wait_idle(stack2)
    async with open_call(stack2, await answered_call_endpoint(stack2)) as call:
        await call.send(b"\1" * FRAME_BYTES)
        await call.recv()
        (draining,) = [r for r in stack2.replicas if r.process.alive and calls_active(r) == 1]
        stack2.testing.stop_replica(draining, wait=False)
        assert draining.address not in stack2.listed_addresses()
        await _connect_and_echo(stack2)  # lands on another replica
        frame = os.urandom(FRAME_BYTES)
        await call.send(frame)
        async with asyncio.timeout(TIMEOUT):
            assert await call.recv() == frame  # still served while draining
    assert draining.process.wait(TIMEOUT)
    assert draining.process.returncode == 0
    stack2.testing.start_replica(draining)
