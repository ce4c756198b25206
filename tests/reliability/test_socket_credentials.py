"""A socket credential opens one socket, and outlives the greeting before it: through
Caddy, with the simulator's calls alongside (docs/security.md, "Socket credentials")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from simulator.vonage.speech import talk_seconds
from stack import Stack
from tests.e2e.helpers import fetch_ncco, first_message, socket_endpoint, stack_client
from tests.reliability.conftest import started
from tests.reliability.helpers import TIMEOUT, assert_clean, call_group, calls_alongside

pytestmark = pytest.mark.reliability

#: What one leaked credential was used for: enough to fill MAX_CALLS on a replica.
SOCKETS = 500
CONCURRENCY = 50
#: Fewer words than this at the simulator's rate outlast a 10 s TTL plus the 5 s leeway.
GREETING = " ".join(["Thank you for calling, please hold the line while we connect you."] * 4)
SHORT_TTL = 10


async def _upgrade(stack: Stack, uri: str, authorization: str) -> ClientConnection | int:
    """An open socket, or the HTTP status that refused it."""
    try:
        return await connect(
            uri,
            ssl=stack.ssl_context(),
            additional_headers={"Authorization": authorization},
            open_timeout=TIMEOUT,
            compression=None,
        )
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_one_credential_opens_one_socket_per_replica(hostile_stack: Stack) -> None:
    """One NCCO's credential tried 500 times through Caddy: at most one socket per replica
    opens, the rest get 401, and a real call placed alongside connects and echoes."""
    stack = hostile_stack
    async with stack_client(stack) as client:
        endpoint = socket_endpoint(await fetch_ncco(client, stack, "leaked-call"))
    slots = asyncio.Semaphore(CONCURRENCY)

    async def attempt() -> ClientConnection | int:
        async with slots:
            result = await _upgrade(stack, endpoint.uri, endpoint.authorization)
        if isinstance(result, ClientConnection):  # a real call, started at once
            await result.send(first_message(endpoint))
        return result

    async with calls_alongside(stack):
        results = await asyncio.gather(*(attempt() for _ in range(SOCKETS)))
        opened = [r for r in results if isinstance(r, ClientConnection)]
        try:
            statuses = sorted({r for r in results if isinstance(r, int)})
            assert 1 <= len(opened) <= len(stack.replicas), len(opened)
            assert statuses == [401]
            for ws in opened:  # each is still a live call
                await ws.send(bytes(640))
                assert len(await asyncio.wait_for(ws.recv(), TIMEOUT)) == 640
        finally:
            await asyncio.gather(*(ws.close() for ws in opened))


@pytest.fixture
def long_greeting_stack(tmp_path: Path) -> Iterator[Stack]:
    """A greeting longer than SOCKET_TOKEN_TTL plus the leeway, spoken before the connect."""
    yield from started(
        tmp_path / "stack", 1, GREETING_TEXT=GREETING, SOCKET_TOKEN_TTL=str(SHORT_TTL)
    )


async def test_a_long_greeting_does_not_expire_the_credential(
    long_greeting_stack: Stack,
) -> None:
    """The simulator speaks the greeting for as long as Vonage would, then connects with
    the NCCO's credential: accepted, because its lifetime counts from the greeting's end."""
    greeting_s = talk_seconds(GREETING)
    assert greeting_s > SHORT_TTL + 5  # without the delay, the credential would be stale
    async with call_group(long_greeting_stack, 1.0) as group:
        started_at = time.monotonic()
        [call] = group.place(1, instant_talk=False)
        [report] = await group.reports([call])
    assert time.monotonic() - started_at >= greeting_s
    assert_clean(report)
    assert len(call.record.legs) == 1  # connected on the first attempt, no 401 and retry
