"""Shared helpers for the audio service tests: credentials, settings, a client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.http11 import Request, Response
from websockets.protocol import OPEN

from audio_socket.connection import CallConnection, Limits
from audio_socket.errors import CloseCode, Outcome
from audio_socket.handlers.echo import echo
from audio_socket.loading import LoadedHandler, prepare_handler
from audio_socket.server import AudioServer
from audio_socket.settings import AudioSettings

#: 64 bytes, so HS384 and HS512 test tokens can be minted with it without a warning.
SECRET = "test-socket-token-secret-0123456789abcdef-0123456789abcdef-01234"
OTHER_SECRET = "another-secret-of-enough-length-0123456789"
FRAME_BYTES = {8000: 320, 16000: 640, 24000: 960}


def mint(
    call_uuid: str = "call-1",
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    ttl: int = 300,
    **claims: Any,
) -> str:
    """A socket credential as the webhooks service mints it (docs/contract.md)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": call_uuid,
        "aud": "audio_socket",
        "iss": "webhooks",
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "attempt": 1,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def make_settings(**overrides: Any) -> AudioSettings:
    """Settings for an in-process server on a free loopback port, no .env read."""
    values: dict[str, Any] = {
        "socket_token_secret": SECRET,
        "audio_host": "127.0.0.1",
        "audio_port": 0,
    }
    values.update(overrides)
    return AudioSettings(_env_file=None, **values)  # type: ignore[call-arg]


def connected_message(call_uuid: str | None = "call-1", rate: int = 16000, **extra: Any) -> str:
    """The first message Vonage sends, with the NCCO headers at the top level."""
    message: dict[str, Any] = {
        "event": "websocket:connected",
        "content-type": f"audio/l16;rate={rate}",
        "call_uuid": call_uuid,
        "attempt": 1,
    }
    message.update(extra)
    return json.dumps({k: v for k, v in message.items() if v is not None})


@asynccontextmanager
async def open_socket(
    port: int, token: str | None = None, path: str = "/socket", **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A WebSocket to the server's /socket, with ``token`` as the credential."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with connect(
        f"ws://127.0.0.1:{port}{path}",
        additional_headers=headers,
        open_timeout=10,
        close_timeout=5,
        compression=None,
        **kwargs,
    ) as ws:
        yield ws


@asynccontextmanager
async def open_call(
    port: int, call_uuid: str = "call-1", rate: int = 16000, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A WebSocket that has sent its websocket:connected message: a live call."""
    async with open_socket(port, mint(call_uuid), **kwargs) as ws:
        await ws.send(connected_message(call_uuid, rate))
        yield ws


async def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """A bare HTTP/1.1 GET on loopback: status, lower-cased headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``check`` until it holds: for state another task updates."""
    async with asyncio.timeout(within):
        # The server exposes counters, not events: polling them is the honest wait.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def close_of(ws: ClientConnection, within: float = 10.0) -> tuple[int | None, str | None]:
    """Wait for the server to close ``ws``; the code and reason it sent."""
    async with asyncio.timeout(within):
        await ws.wait_closed()
    return ws.close_code, ws.close_reason


@asynccontextmanager
async def running(handler: object = echo, **settings: Any) -> AsyncIterator[AudioServer]:
    """A server running ``handler`` (either form) with these settings, stopped after."""
    async with AudioServer(make_settings(**settings), loaded(handler)) as server:
        yield server


def loaded(handler: object, settings: Any = None) -> LoadedHandler:
    """``handler`` (a class, factory or coroutine function) as the server runs it."""
    return prepare_handler(handler, getattr(handler, "__name__", "test handler"), settings)


def calls_with(server: AudioServer, outcome: Outcome) -> float:
    """How many calls ended with ``outcome``, per the server's metrics."""
    value = server.metrics.registry.get_sample_value("audio_calls_total", {"outcome": outcome})
    return value or 0.0


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    head = (
        struct.pack("!BB", first, 0x80 | size)
        if size < 126
        else struct.pack("!BBH", first, 0x80 | 126, size)
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade_request(token: str) -> bytes:
    """The HTTP upgrade Vonage sends, with the credential."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET /socket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()


class FakeTransport(asyncio.Transport):
    """Records what the connection writes; no socket."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.written.append(b"<eof>")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class RecordingHost:
    """Accepts every upgrade; records messages; closes the call on ``close_on`` audio."""

    def __init__(self, close_on: bytes | None = None) -> None:
        self.messages: list[tuple[str, bytes | str]] = []
        self.close_on = close_on

    def respond(self, conn: CallConnection, request: Request) -> Response | None:
        return None

    def opened(self, conn: CallConnection) -> None:
        conn.on_binary = lambda data: self.binary(conn, data)
        conn.on_text = lambda text: self.messages.append(("text", text))

    def binary(self, conn: CallConnection, data: bytes) -> None:
        self.messages.append(("binary", data))
        if data == self.close_on:
            conn.close(CloseCode.NORMAL_CLOSURE, "enough")

    def message_failed(self, conn: CallConnection, exc: Exception) -> None:
        raise AssertionError(exc)

    def handshake_expired(self, conn: CallConnection) -> None:
        pass

    def closed(self, conn: CallConnection) -> None:
        pass


LIMITS = Limits(10.0, 10.0, 10.0, 10.0, 10.0, 1 << 16, 1 << 16, 1 << 18)


class LongWayConnection(CallConnection):
    """A connection that never takes the short cut."""

    __slots__ = ()

    def _rearm(self) -> None:
        self._fast_max = 0


def open_connection(
    host: RecordingHost, *, short_cut: bool = True
) -> tuple[CallConnection, FakeTransport]:
    """A connection past its upgrade, on a fake transport; ``short_cut=False``: never taken.

    Without the short cut every frame goes through FrameReader's long way,
    which the property tests in test_wire.py hold to websockets' own parser.
    """
    conn = (CallConnection if short_cut else LongWayConnection)(host, LIMITS)
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.data_received(upgrade_request("unchecked"))
    assert conn.protocol.state is OPEN
    transport.written.clear()
    return conn, transport


def metric(server: AudioServer, name: str) -> float:
    """An unlabelled sample from the server's metrics."""
    return server.metrics.registry.get_sample_value(name) or 0.0


async def echo_round(ws: ClientConnection, frames: list[bytes]) -> list[bytes]:
    """Send ``frames`` one by one; return what came back for each."""
    received = []
    for frame in frames:
        await ws.send(frame)
        message = await ws.recv()
        assert isinstance(message, bytes)
        received.append(message)
    return received
