"""Limits that protect a replica: message size, call count, stalled peers, and the drain."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audio_socket import CallControl, CallHandler
from audio_socket.errors import Outcome
from audio_socket.protocol import CallStart
from audio_socket.server import AudioServer
from tests.audio_socket.helpers import (
    calls_with,
    close_of,
    connected_message,
    echo_round,
    eventually,
    metric,
    mint,
    open_call,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)


async def test_oversize_message_is_closed_1009(server: AudioServer) -> None:
    """A message over MAX_MESSAGE_BYTES (64 KiB) closes the call with 1009."""
    async with open_call(server.port) as ws:
        await ws.send(bytes(65537))
        close_code, _ = await close_of(ws)
    assert close_code == 1009
    await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1)


async def test_call_beyond_max_calls_is_503() -> None:
    """MAX_CALLS live calls: one more is refused with 503; a freed slot admits again."""
    async with running(max_calls=2) as server:
        async with open_call(server.port, "a"), open_call(server.port, "b") as b:
            await echo_round(b, [bytes(640)])
            with pytest.raises(InvalidStatus) as caught:
                async with open_call(server.port, "c"):
                    pass
            assert caught.value.response.status_code == 503
        await eventually(lambda: server.live_calls == 0)
        async with open_call(server.port, "d") as d:
            assert await echo_round(d, [bytes(640)]) == [bytes(640)]
    assert calls_with(server, Outcome.REJECTED_LIMIT) == 1


async def stalled_client(port: int) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer, so a stall shows fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def flood(ws: ClientConnection) -> None:
    """Send silence until the connection fails (or 20 s pass)."""
    async with asyncio.timeout(20):
        while True:
            await ws.send(bytes(640))


async def test_peer_that_stops_reading_is_closed() -> None:
    """A peer that keeps sending but never reads is aborted after SEND_TIMEOUT."""
    async with running(outbound_buffer_bytes=4096, send_timeout=0.3) as server:
        sock = await stalled_client(server.port)
        async with open_socket(server.port, mint(), sock=sock) as ws:
            await ws.send(connected_message())
            ws.transport.pause_reading()
            with pytest.raises(ConnectionClosed):
                await flood(ws)
        await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1)
        assert server.live_calls == 0


BLAST_FRAMES = 16_000


class BlastHandler(CallHandler):
    """Sends five minutes of audio at once, never waiting: a misbehaving handler.

    10 MB: more than the kernel's socket buffers take (tcp_wmem tops out at 4 MB).
    """

    def on_start(self, call: CallControl, start: CallStart) -> None:
        call.send_audio(bytes(start.frame_bytes * BLAST_FRAMES))


async def test_outbound_buffer_has_a_hard_cap() -> None:
    """A handler that floods a non-reading peer is aborted at once, not after a timeout."""
    async with running(BlastHandler, outbound_buffer_bytes=4096, send_timeout=60) as server:
        sock = await stalled_client(server.port)
        async with open_socket(server.port, mint(), sock=sock) as ws:
            ws.transport.pause_reading()
            await ws.send(connected_message())
            await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1, within=5)
            assert metric(server, "audio_bytes_sent_total") < 640 * BLAST_FRAMES
            ws.transport.resume_reading()


async def test_peer_that_ignores_pings_is_closed() -> None:
    """Keepalive: no pong within PING_TIMEOUT closes the call with 1011."""
    async with running(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5) as server:
        async with open_call(server.port) as ws:
            ws.transport.pause_reading()
            await eventually(lambda: calls_with(server, Outcome.FAILED) == 1)
            ws.transport.resume_reading()
            close_code, _ = await close_of(ws)
        assert close_code in (1011, 1006)


async def test_drain_refuses_new_calls_and_keeps_live_ones() -> None:
    """Draining stops listening at once; a live call still echoes; then 1001."""
    async with running() as server, open_call(server.port) as ws:
        port = server.port
        server.stop_accepting()
        with pytest.raises(OSError):  # noqa: PT011 - refused, reset: any socket error
            await asyncio.open_connection("127.0.0.1", port)
        frame = os.urandom(640)
        assert await echo_round(ws, [frame]) == [frame]
        assert metric(server, "audio_draining") == 1
        await server.close_calls()
        assert await close_of(ws) == (1001, "server draining")
        await eventually(lambda: calls_with(server, Outcome.DRAINED) == 1)
