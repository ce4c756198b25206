"""The WebSocket I/O layer: what the event loop's callbacks must keep.

Against real sockets, and on a fake transport where the order of reads matters.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from audio_socket import CallControl, CallHandler
from audio_socket.errors import Outcome
from audio_socket.protocol import CallStart
from tests.audio_socket.helpers import (
    RecordingHost,
    calls_with,
    client_frame,
    close_of,
    connected_message,
    eventually,
    mint,
    open_call,
    open_connection,
    running,
    upgrade_request,
)

pytestmark = pytest.mark.timeout(30)


async def test_frames_in_the_upgrade_packet_are_read() -> None:
    """Request, first message and audio in one write: 101, then the echo."""
    frame = os.urandom(640)
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            upgrade_request(mint())
            + client_frame(1, connected_message().encode())
            + client_frame(2, frame)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        echoed = await reader.readexactly(4 + 640)
        assert echoed == b"\x82\x7e\x02\x80" + frame
        writer.close()
        await writer.wait_closed()


async def test_fragmented_messages_arrive_whole() -> None:
    """A fragmented first message and fragmented audio reach the call reassembled."""
    first = connected_message().encode()
    audio = os.urandom(640)
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(upgrade_request(mint()))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(client_frame(1, first[:10], fin=False) + client_frame(0, first[10:]))
        writer.write(client_frame(9, b"ping"))  # control frames may come between fragments
        writer.write(client_frame(2, audio[:100], fin=False))
        writer.write(client_frame(9, b"ping") + client_frame(0, audio[100:]))
        pongs = await reader.readexactly(2 * (2 + 4))
        assert pongs == b"\x8a\x04ping" * 2
        assert await reader.readexactly(4 + 640) == b"\x82\x7e\x02\x80" + audio
        writer.close()
        await writer.wait_closed()


async def test_invalid_utf8_in_a_later_text_message_is_1007() -> None:
    """Text must be UTF-8 all call long, not only in the first message (RFC 6455 §8.1)."""
    async with running() as server, open_call(server.port) as ws:
        await ws.send(b"{\xff}", text=True)
        close_code, _ = await close_of(ws)
    assert close_code == 1007


async def test_pongs_keep_the_call_alive() -> None:
    """A peer that answers pings stays connected well past several ping timeouts."""
    async with running(ping_interval=0.05, ping_timeout=0.1) as server:
        async with open_call(server.port) as ws:
            for _ in range(10):
                frame = os.urandom(640)
                await ws.send(frame)
                assert await ws.recv() == frame
                await asyncio.sleep(0.05)
        await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    assert calls_with(server, Outcome.FAILED) == 0


class SlowHandler(CallHandler):
    """Echoes each frame after an await: later frames must wait their turn."""

    def on_start(self, call: CallControl, start: CallStart) -> None:
        self.call = call

    async def on_audio(self, frame: bytes) -> None:
        await asyncio.sleep(0.005)
        self.call.send_audio(frame)


async def test_an_awaiting_handler_gets_frames_in_order() -> None:
    """A burst of frames to an async on_audio comes back complete and in order."""
    frames = [os.urandom(640) for _ in range(30)]
    async with running(SlowHandler) as server, open_call(server.port) as ws:
        for frame in frames:
            await ws.send(frame)
        assert [await ws.recv() for _ in frames] == frames


async def test_peer_that_never_answers_the_close_is_cut_off() -> None:
    """The closing handshake is bounded by CLOSE_TIMEOUT: then the TCP connection goes."""
    async with running(close_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(upgrade_request(mint()) + client_frame(1, connected_message().encode()))
        await reader.readuntil(b"\r\n\r\n")
        await eventually(
            lambda: server.metrics.registry.get_sample_value("audio_calls_active") == 1
        )
        await server.close_calls()  # the peer reads the 1001 but never answers
        assert server.live_calls == 0
        assert await reader.readexactly(2) == b"\x88\x11"  # 1001 + "server draining"
        writer.close()
    assert calls_with(server, Outcome.DRAINED) == 1


async def test_audio_after_the_server_closes_reaches_no_handler() -> None:
    """Once the server has sent its close, later audio frames are read but dropped.

    Each frame arrives on its own, as the short cut takes them: after the close
    it must leave them to websockets, and the connection drops what it parses.
    """
    first = os.urandom(640)
    host = RecordingHost(close_on=first)
    conn, transport = open_connection(host)
    conn.data_received(client_frame(2, first))
    assert transport.written == [b"\x88\x08\x03\xe8enough"]
    for _ in range(5):
        conn.data_received(client_frame(2, os.urandom(640)))
    assert host.messages == [("binary", first)]
    assert conn.frames_in == 1
    conn.connection_lost(None)
