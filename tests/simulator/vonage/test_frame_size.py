"""Vonage's frame rule, as the simulator keeps it: each binary message back is one 20 ms
frame at the call's rate; another size closes the socket with 1007 (§3), and the
call goes on as for any socket closed under it (§4); ``--lenient-frames`` counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.simulator.conftest import Run, StartStack
from tests.simulator.fakes import Reply, Request, connect_ncco

RunCall = Callable[[list[str]], Awaitable[Run]]


@pytest.fixture
async def halving_socket() -> AsyncIterator[str]:
    """A socket that echoes each frame cut in half (160 samples of a 16 kHz call)."""

    async def handle(connection: ServerConnection) -> None:
        await connection.recv()  # websocket:connected
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    await connection.send(message[: len(message) // 2])
        except ConnectionClosed:
            pass

    async with serve(handle, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/socket"


async def test_a_wrong_size_closes_the_socket_with_1007_and_the_call_reconnects(
    start_stack: StartStack, halving_socket: str, run_call: RunCall
) -> None:
    """Leg 1 sends 320-byte messages: closed with 1007, disconnected, reconnected."""
    stack = await start_stack(tls=False)

    async def answer(_request: Request) -> Reply:
        return 200, connect_ncco(halving_socket, stack.events_url)

    stack.hooks.answer = answer
    run = await run_call(stack.argv("--json", seconds=2.0))
    report = run.report()
    first, second = report["legs"]
    assert first["close_code"] == 1007
    assert "320 bytes" in first["detail"]
    assert "640 bytes" in first["detail"]
    assert second["end"] == "hung up"
    assert "disconnected" in [s for leg in stack.hooks.leg_statuses() for s in leg]
    assert report["wrong_size_first"] == [320, 640]
    assert report["wrong_size"] == 1  # nothing after the first is heard


async def test_lenient_frames_counts_them_instead(
    start_stack: StartStack, halving_socket: str, run_call: RunCall
) -> None:
    """--lenient-frames: one leg, never closed; every wrong-size message counted."""
    stack = await start_stack(tls=False)

    async def answer(_request: Request) -> Reply:
        return 200, connect_ncco(halving_socket, stack.events_url)

    stack.hooks.answer = answer
    run = await run_call(stack.argv("--json", "--lenient-frames", seconds=1.0))
    report = run.report()
    [leg] = report["legs"]
    assert leg["close_code"] != 1007
    assert report["wrong_size"] >= 40
    assert report["wrong_size_first"] == [320, 640]
    text = await run_call(stack.argv("--lenient-frames", seconds=0.5))
    assert "of the wrong size (the first 320 bytes; one 20 ms frame is 640)" in text.out
