"""The upgrade and the first message: close codes for bad input, and handshake timeouts."""

from __future__ import annotations

import asyncio
import logging

import pytest

from audio_socket.errors import Outcome
from audio_socket.server import AudioServer
from tests.audio_socket.helpers import (
    calls_with,
    close_of,
    connected_message,
    eventually,
    mint,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b"\x00" * 640, 1003),
        ("not json", 1007),
        ('{"content-type":"audio/l16;rate=16000","call_uuid":"call-1"}', 1008),
        (connected_message(rate=44100), 1003),
        ('{"event":"websocket:connected","call_uuid":"call-1"}', 1008),
        (connected_message(pad="x" * 5000), 1009),
    ],
    ids=["binary", "not-json", "no-event", "unsupported-rate", "no-content-type", "over-4-KiB"],
)
async def test_bad_first_message_gets_its_close_code(
    server: AudioServer, first: str | bytes, code: int
) -> None:
    """Each bad first message closes the socket with the code that fits it."""
    async with open_socket(server.port, mint()) as ws:
        await ws.send(first)
        close_code, reason = await close_of(ws)
    assert close_code == code
    assert reason
    await eventually(lambda: calls_with(server, Outcome.REJECTED_PROTOCOL) == 1)


async def test_invalid_utf8_first_message_is_1007(server: AudioServer) -> None:
    """A text frame that is not UTF-8 is invalid payload."""
    async with open_socket(server.port, mint()) as ws:
        await ws.send(b"\xff\xfe{", text=True)
        close_code, _ = await close_of(ws)
    assert close_code == 1007


async def test_first_message_for_another_call_is_1008(server: AudioServer) -> None:
    """call_uuid must equal the credential's sub (docs/contract.md)."""
    async with open_socket(server.port, mint("call-1")) as ws:
        await ws.send(connected_message("call-2"))
        assert await close_of(ws) == (1008, "credential does not match call")
    await eventually(lambda: calls_with(server, Outcome.REJECTED_CREDENTIAL) == 1)


async def test_silent_peer_is_closed_at_the_handshake_timeout() -> None:
    """A socket that never sends websocket:connected does not hold a slot."""
    async with running(handshake_timeout=0.3) as server, open_socket(server.port, mint()) as ws:
        close_code, reason = await close_of(ws)
    assert close_code == 1008
    assert reason == "no websocket:connected in time"


async def test_bad_first_message_is_logged_once(
    server: AudioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected call makes exactly one log line, with its code and reason."""
    with caplog.at_level(logging.INFO, logger="audio_socket"):
        async with open_socket(server.port, mint()) as ws:
            await ws.send("not json")
            await close_of(ws)
        await eventually(lambda: calls_with(server, Outcome.REJECTED_PROTOCOL) == 1)
    records = [r for r in caplog.records if r.name == "audio_socket"]
    assert [r.getMessage() for r in records] == ["call rejected"]
    assert records[0].__dict__["close_code"] == 1007


async def test_silent_tcp_connection_is_dropped_at_the_handshake_timeout() -> None:
    """A TCP connection that never sends its HTTP request is dropped."""
    async with running(handshake_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(10):
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
