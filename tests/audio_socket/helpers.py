"""Shared helpers for the audio service tests: credentials, settings, a client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
from websockets.asyncio.client import ClientConnection, connect

from audio_socket.errors import Outcome
from audio_socket.handlers import EchoHandler, HandlerFactory
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
    """A socket credential as the webhooks service mints it (docs/CONTRACT.md)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": call_uuid,
        "aud": "audio_socket",
        "iss": "webhooks",
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
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
async def running(
    handler: HandlerFactory = EchoHandler, **settings: Any
) -> AsyncIterator[AudioServer]:
    """A server with these settings, stopped when the block ends."""
    async with AudioServer(make_settings(**settings), handler) as server:
        yield server


def calls_with(server: AudioServer, outcome: Outcome) -> float:
    """How many calls ended with ``outcome``, per the server's metrics."""
    value = server.metrics.registry.get_sample_value("audio_calls_total", {"outcome": outcome})
    return value or 0.0
