"""No replica to take a call, and a full one.

Every replica down: the connect fails, the events webhook answers ``failed`` with a
new connect until RECONNECT_ATTEMPTS, then with the apology; nothing hangs and the
answer webhook stays fast. A replica at MAX_CALLS answers 503: the call is placed
on another one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from stack import Replica, Stack
from tests.e2e.helpers import answered_call_endpoint, fetch_ncco, first_message, stack_client
from tests.reliability.conftest import started
from tests.reliability.helpers import (
    TIMEOUT,
    active_per_replica,
    assert_clean,
    call_group,
)

pytestmark = pytest.mark.reliability

RECONNECT_ATTEMPTS = 3
#: Vonage wants the NCCO within 5 s (docs/vonage-protocol.md §1); ours come in milliseconds.
ANSWER_BUDGET_S = 1.0
ANSWERS = 20
#: Three connects, each at most Caddy's lb_try_duration (2 s), and the webhooks between.
OUTAGE_BUDGET_S = 3 * 2.0 + 4.0
MAX_CALLS = 3


@pytest.fixture
def full_stack(tmp_path: Path) -> Iterator[Stack]:
    """Two replicas that each take at most MAX_CALLS calls."""
    yield from started(tmp_path / "stack", 2, MAX_CALLS=str(MAX_CALLS))


@pytest.mark.parametrize("in_dns", [True, False], ids=["killed-still-in-dns", "stopped"])
async def test_no_replica_left_retries_then_apologises(stack2: Stack, in_dns: bool) -> None:
    """Every replica down: attempts 1..3 fail, the caller hears the apology, fast."""
    for replica in stack2.replicas:
        if in_dns:
            await asyncio.to_thread(stack2.testing.kill_replica, replica, keep_in_dns=True)
        else:
            await asyncio.to_thread(stack2.testing.stop_replica, replica)
    async with stack_client(stack2) as client:
        started_at = time.monotonic()
        async with call_group(stack2, seconds=2.0) as group:
            group.place(1)
            answers = await asyncio.gather(*(_timed_answer(client, stack2) for _ in range(ANSWERS)))
            [report] = await group.reports()
        took = time.monotonic() - started_at
    assert report.error is not None  # the call never got audio: it is over
    assert [leg["attempt"] for leg in report.legs] == list(range(1, RECONNECT_ATTEMPTS + 1))
    assert all(leg["end"] == "failed" for leg in report.legs)
    caller_leg = [e["kind"] for e in report.events if "leg" not in e]
    assert caller_leg == ["answer", "started", "ringing", "answered", "completed"]
    failed = [e for e in report.events if e["kind"] == "failed"]
    assert [(e["leg"], e.get("ncco", False)) for e in failed] == [(1, True), (2, True), (3, True)]
    assert report.events_failed == []
    assert len(report.talks) == 2, report.talks  # the greeting, then the apology
    assert took < OUTAGE_BUDGET_S
    assert max(answers) < ANSWER_BUDGET_S, answers
    print(  # the figures docs/reliability.md quotes (pytest -s)
        f"all replicas down ({'killed, in DNS' if in_dns else 'stopped'}): apology after"
        f" {took:.1f} s; answer webhook max {max(answers) * 1000:.0f} ms during the outage"
    )


async def _timed_answer(client: httpx.AsyncClient, stack: Stack) -> float:
    started_at = time.monotonic()
    await fetch_ncco(client, stack, str(uuid.uuid4()))
    return time.monotonic() - started_at


async def _fill_directly(replica: Replica, stack: Stack, exits: AsyncExitStack) -> None:
    """MAX_CALLS calls straight to the replica: full, though Caddy counts none there."""
    for _ in range(MAX_CALLS):
        endpoint = await answered_call_endpoint(stack)
        socket: ClientConnection = await exits.enter_async_context(
            connect(
                f"ws://{replica.address}:{replica.port}/socket",
                additional_headers={"Authorization": endpoint.authorization},
                open_timeout=TIMEOUT,
            )
        )
        await socket.send(first_message(endpoint))


async def test_full_replica_sends_the_call_to_another(full_stack: Stack) -> None:
    """A replica at MAX_CALLS refuses with 503; the calls land on the other replica."""
    full, other = full_stack.replicas
    async with AsyncExitStack() as exits:
        await _fill_directly(full, full_stack, exits)
        assert await active_per_replica([full, other]) == [MAX_CALLS, 0]
        async with call_group(full_stack, seconds=3.0) as group:
            for _ in range(2):  # Caddy counts no call on the full one: it is picked first
                await group.wait_echoing(group.place(1))
            assert await active_per_replica([full, other]) == [MAX_CALLS, 2]
            reports = await group.reports()
        limited = await asyncio.to_thread(_limit_refusals, full)
    for report in reports:
        assert_clean(report)
    failed_attempts = sum(len(r.legs) - 1 for r in reports)
    assert limited >= 1, "no call was offered to the full replica: nothing was tested"
    assert failed_attempts == limited
    print(f"full replica: {limited:.0f} upgrade(s) refused 503, every call placed on the other")


def _limit_refusals(replica: Replica) -> float:
    text = httpx.get(f"{replica.url}/metrics", timeout=TIMEOUT, trust_env=False).text
    for line in text.splitlines():
        if line.startswith('audio_calls_total{outcome="rejected_limit"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
