"""Calls through Caddy and TLS: the echo, least-connections balance, and a reload."""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection

from stack import Stack
from tests.e2e.helpers import (
    FRAME_BYTES,
    TIMEOUT,
    answered_call_endpoint,
    calls_active,
    open_call,
    wait_idle,
)

pytestmark = pytest.mark.e2e

DTMF = json.dumps({"event": "websocket:dtmf", "digit": "5", "duration": 260})


async def _echo_round_trip(call: ClientConnection) -> None:
    frame = os.urandom(FRAME_BYTES)
    await call.send(frame)
    async with asyncio.timeout(TIMEOUT):
        assert await call.recv() == frame


async def test_frames_echo_byte_exact_and_text_is_not_echoed(stack3: Stack) -> None:
    """Audio frames come back byte-exact and in order; the first message and DTMF do not."""
    wait_idle(stack3)
    frames = [os.urandom(FRAME_BYTES) for _ in range(50)]  # one second of audio
    endpoint = await answered_call_endpoint(stack3)
    async with open_call(stack3, endpoint) as call:
        for index, frame in enumerate(frames):
            await call.send(frame)
            if index == 10:
                await call.send(DTMF)
        async with asyncio.timeout(TIMEOUT):
            received = [await call.recv() for _ in frames]
    # Had the first text message been echoed, it would have come back first.
    assert all(isinstance(message, bytes) for message in received)
    assert received == frames


async def test_six_calls_on_three_replicas_land_two_each(stack3: Stack) -> None:
    """Least connections: six calls held open at once are spread 2 + 2 + 2."""
    wait_idle(stack3)
    endpoints = [await answered_call_endpoint(stack3) for _ in range(6)]
    async with AsyncExitStack() as calls:
        for endpoint in endpoints:
            # Each call is live (its first echo came back) before the next one connects,
            # so Caddy's count of open connections per replica is exact at each choice.
            call = await calls.enter_async_context(open_call(stack3, endpoint))
            await _echo_round_trip(call)
        spread = [calls_active(replica) for replica in stack3.replicas]
    assert spread == [2, 2, 2]


async def test_live_call_survives_a_caddy_reload(stack3: Stack) -> None:
    """stream_close_delay: a config reload keeps open sockets; new calls work after it."""
    wait_idle(stack3)
    async with open_call(stack3, await answered_call_endpoint(stack3)) as call:
        await _echo_round_trip(call)
        stack3.testing.reload_caddy()
        await _echo_round_trip(call)
        async with open_call(stack3, await answered_call_endpoint(stack3)) as after:
            await _echo_round_trip(after)
        await _echo_round_trip(call)
