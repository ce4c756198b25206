"""Calls through the real server: the echo at each rate, re-framing, events, handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest
from websockets.asyncio.client import ClientConnection

from audio_socket.errors import Outcome
from audio_socket.handlers.echo import echo
from audio_socket.handlers.settings import EchoSettings
from audio_socket.server import AudioServer
from tests.audio_socket import custom_handler
from tests.audio_socket.helpers import (
    FRAME_BYTES,
    calls_with,
    close_of,
    echo_round,
    eventually,
    loaded,
    make_settings,
    metric,
    open_call,
    running,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_echo_is_byte_exact_at_each_rate(rate: int) -> None:
    """Every frame comes back unchanged, in order, at 8, 16 and 24 kHz."""
    size = FRAME_BYTES[rate]
    frames = [os.urandom(size) for _ in range(50)]
    async with running() as server, open_call(server.port, rate=rate) as ws:
        assert await echo_round(ws, frames) == frames


@pytest.mark.parametrize(
    "call_uuid",
    ["63f61863-4a51-4f6b-86e1-46edebcf9356", "aaaaaaaabbbbccccdddd0123456789ab"],
    ids=["dashed", "32-hex"],
)
async def test_both_uuid_forms_are_admitted(server: AudioServer, call_uuid: str) -> None:
    """An app leg's dashed uuid and an inbound phone leg's 32 hex digits both admit a call."""
    frames = [os.urandom(FRAME_BYTES[16000]) for _ in range(5)]
    async with open_call(server.port, call_uuid=call_uuid) as ws:
        assert await echo_round(ws, frames) == frames


async def test_delayed_echo_arrives_after_the_delay() -> None:
    """ECHO_DELAY_MS=200: each frame returns 200 ms later, give or take a frame."""
    handler = loaded(echo, EchoSettings(echo_delay_ms=200))
    delay, frame_s = 0.2, 0.02
    frames = [os.urandom(640) for _ in range(15)]
    loop = asyncio.get_running_loop()

    async def receive(ws: ClientConnection) -> list[tuple[float, bytes]]:
        received = []
        for _ in frames:
            frame = await ws.recv(decode=False)
            received.append((loop.time(), frame))
        return received

    server = AudioServer(make_settings(), handler)
    async with server, open_call(server.port) as ws:
        receiving = asyncio.ensure_future(receive(ws))
        sent_at = []
        for frame in frames:
            sent_at.append(loop.time())
            await ws.send(frame)
            await asyncio.sleep(frame_s)  # paced like a phone: 50 frames a second
        received = await receiving
    assert [frame for _, frame in received] == frames
    lags = sorted(at - sent for (at, _), sent in zip(received, sent_at, strict=True))
    # Never early by more than a frame; late only by scheduling (loose on a loaded box).
    assert lags[0] >= delay - frame_s
    assert lags[len(lags) // 2] <= delay + frame_s + 0.1


async def test_echo_reframes_odd_sizes_into_whole_frames(server: AudioServer) -> None:
    """Odd-sized input comes back as whole frames of the stream, never short ones."""
    stream = os.urandom(640 * 5)
    pieces = [stream[:100], stream[100:1000], stream[1000:1001], stream[1001:]]
    async with open_call(server.port) as ws:
        for piece in pieces:
            await ws.send(piece)
        received = [await ws.recv(decode=False) for _ in range(5)]
    assert all(len(frame) == 640 for frame in received)
    assert b"".join(received) == stream


async def test_events_are_not_echoed_and_do_not_end_the_call(server: AudioServer) -> None:
    """DTMF (both forms), unknown and malformed text are swallowed; audio goes on."""
    frame = os.urandom(640)
    async with open_call(server.port) as ws:
        for text in (
            '{"event":"websocket:dtmf","digit":"5","duration":260}',
            '{"event":"websocket:dtmf","dtmf":{"digit":"#","duration":100}}',
            '{"event":"websocket:something-new"}',
            "not json",
        ):
            await ws.send(text)
        assert await echo_round(ws, [frame]) == [frame]
    await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    assert metric(server, "audio_dtmf_events_total") == 2


async def test_message_at_the_size_limit_is_accepted(server: AudioServer) -> None:
    """A 64 KiB message is allowed; its audio comes back re-framed."""
    async with open_call(server.port) as ws:
        await ws.send(bytes(65536))
        received = [await ws.recv() for _ in range(65536 // 640)]
    assert all(frame == bytes(640) for frame in received)


async def test_custom_handler_controls_the_call() -> None:
    """A third handler re-frames its audio and sends clear, notify and close."""
    custom_handler.ENDED.clear()
    async with running(custom_handler.make_handler) as server, open_call(server.port) as ws:
        stream = os.urandom(640 * 3)
        for i in range(3):
            await ws.send(stream[i * 640 : (i + 1) * 640])
        assert b"".join([await ws.recv(decode=False) for _ in range(3)]) == stream
        await ws.send('{"event":"websocket:dtmf","digit":"1"}')
        assert json.loads(await ws.recv()) == {"action": "clear"}
        await ws.send('{"event":"websocket:dtmf","digit":"2"}')
        assert json.loads(await ws.recv()) == {"action": "notify", "payload": {"digit": "2"}}
        await ws.send(os.urandom(100))
        await ws.send('{"event":"websocket:dtmf","digit":"3"}')
        flushed = await ws.recv()
        assert len(flushed) == 640
        assert flushed[100:] == bytes(540)
        await ws.send('{"event":"websocket:dtmf","digit":"9"}')
        assert await close_of(ws) == (1000, "bye")
    assert [(end.code, end.outcome) for end in custom_handler.ENDED] == [(1000, Outcome.COMPLETED)]


async def test_handler_failure_closes_1011() -> None:
    """An exception in a handler closes that call with 1011; the server goes on."""
    async with running(custom_handler.make_handler) as server:
        async with open_call(server.port) as ws:
            await ws.send('{"event":"websocket:dtmf","digit":"#"}')
            close_code, _ = await close_of(ws)
        assert close_code == 1011
        await eventually(lambda: calls_with(server, Outcome.FAILED) == 1)
        async with open_call(server.port, "call-2") as ws:
            frame = os.urandom(640)
            await ws.send(frame)
            assert await ws.recv() == frame


# Observability


async def test_call_is_counted_and_logged(
    server: AudioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One call: one start line, one end line, and the traffic in the metrics."""
    frames = [os.urandom(640) for _ in range(10)]
    with caplog.at_level(logging.INFO, logger="audio_socket"):
        async with open_call(server.port, "call-1") as ws:
            await echo_round(ws, frames)
            assert metric(server, "audio_calls_active") == 1
            assert metric(server, "audio_frames_received_total") == 10
        await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    assert metric(server, "audio_calls_active") == 0
    assert metric(server, "audio_frames_sent_total") == 10
    assert metric(server, "audio_bytes_received_total") == 6400
    assert metric(server, "audio_bytes_sent_total") == 6400
    assert metric(server, "audio_handshake_seconds_count") == 1
    lines = [r for r in caplog.records if r.name == "audio_socket"]
    assert [r.getMessage() for r in lines] == ["call started", "call ended"]
    ended = lines[1].__dict__
    assert ended["call_uuid"] == "call-1"
    assert (ended["rate"], ended["frames_in"], ended["frames_out"]) == (16000, 10, 10)
    assert (ended["close_code"], ended["outcome"]) == (1000, Outcome.COMPLETED)
    assert ended["duration_s"] >= 0
