"""Small in-process stand-ins for the stack: a webhooks app and an echo socket.

Both bind 127.0.0.1 port 0, record what they were sent, and stop everything
they started on ``close()``. The webhooks fake is a raw asyncio HTTP/1.1
server (keep-alive, Content-Length bodies) so that a test controls every byte
and can make a route hang; it checks signatures the way the real service must.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

SECRET = "test-signature-secret-of-at-least-32-bytes"
TOKEN = "Bearer test-socket-credential"


@dataclass
class Request:
    """One request the fake webhooks received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    claims: dict[str, Any] | None = None
    received_at: float = 0.0  # monotonic

    def fields(self) -> dict[str, Any]:
        """The webhook's fields: JSON body, or query string (objects in it as JSON)."""
        if self.body:
            value = json.loads(self.body)
            assert isinstance(value, dict)
            return value
        return {k: json.loads(v) if v.startswith("{") else v for k, v in self.query.items()}


Reply = tuple[int, object]  # status, JSON value (None: empty body)
Route = Callable[[Request], Awaitable[Reply]]


def verify(request: Request, secret: str = SECRET) -> dict[str, Any] | None:
    """The claims of a correctly signed request, else None."""
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(auth[7:], secret, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None
    # What Vonage hashes (docs/vonage-protocol.md §6): the body; for a GET, its query
    # as compact JSON in order.
    signed = request.body
    if request.method == "GET":
        signed = json.dumps(request.query, separators=(",", ":"), ensure_ascii=False).encode()
    if claims.get("payload_hash") != hashlib.sha256(signed).hexdigest():
        return None
    if abs(time.time() - claims.get("iat", 0)) > 300:
        return None
    return claims


def connect_ncco(
    socket_uri: str, events_url: str, *, attempt: int = 1, rate: int = 16000
) -> list[dict[str, Any]]:
    """The NCCO the real webhooks service answers with."""
    return [
        {"action": "talk", "text": "Please wait while we connect you to the echo server"},
        {
            "action": "connect",
            "from": "447700900000",
            "eventType": "synchronous",
            "eventUrl": [events_url],
            "endpoint": [
                {
                    "type": "websocket",
                    "uri": socket_uri,
                    "content-type": f"audio/l16;rate={rate}",
                    "headers": {"call_uuid": "c-1", "attempt": attempt},
                    "authorization": {"type": "custom", "value": TOKEN},
                }
            ],
        },
    ]


@dataclass
class FakeWebhooks:
    """``/webhooks/answer`` and ``/webhooks/events`` with replaceable routes."""

    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    keep: bool = True  # record requests (the rig turns it off for long runs)
    requests: list[Request] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    answer: Route | None = None
    events: Route | None = None
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        """Where the fake listens."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{port}"

    def received(self, path: str) -> list[Request]:
        """Requests to one path."""
        return [r for r in self.requests if r.path == path]

    def event_fields(self) -> list[dict[str, Any]]:
        """The fields of each event received, in order."""
        return [r.fields() for r in self.received("/webhooks/events")]

    def statuses(self, direction: str = "inbound") -> list[str]:
        """The ``status`` of each event about the caller's leg (or the socket legs), in order."""
        return [e["status"] for e in self.event_fields() if e.get("direction") == direction]

    def leg_statuses(self) -> list[list[str]]:
        """The statuses of each socket leg's events, one list per leg uuid, in order."""
        legs: dict[str, list[str]] = {}
        for event in self.event_fields():
            if event.get("direction") == "outbound":
                legs.setdefault(event["uuid"], []).append(event["status"])
        return list(legs.values())

    async def hang(self, _request: Request) -> Reply:
        """A route that never answers (until the fake closes)."""
        await self._closing.wait()
        return 503, None

    async def start(self) -> FakeWebhooks:
        """Listen on a port from the OS."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self._closing.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while (request := await self._read(reader)) is not None:
                request.received_at = time.monotonic()
                if self.keep:
                    self.requests.append(request)
                request.claims = verify(request)
                status, value = await self._route(request)
                body = b"" if value is None else json.dumps(value).encode()
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = line.split(" ", 2)
        headers = {}
        for item in lines:
            if item:
                name, _, value = item.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = urlsplit(target)
        return Request(method, url.path, dict(parse_qsl(url.query)), headers, body)

    async def _route(self, request: Request) -> Reply:
        if self._closing.is_set():
            return 503, None
        route = {"/webhooks/answer": self.answer, "/webhooks/events": self.events}.get(request.path)
        if route is None:
            return (204, None) if request.path == "/webhooks/events" else (404, None)
        try:
            return await route(request)
        except Exception as exc:  # a broken test route: answer 500, keep it for the test
            self.errors.append(exc)
            return 500, None


@dataclass
class FakeSocket:
    """An audio socket: echo, delayed echo, close mid-call, or refuse the upgrade."""

    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    delay: float = 0.0
    close_after: int | None = None  # close the first connection 1001 after N frames
    silence_first: bool = False  # a delayed echo that plays silence until the delay passes
    refuse: int | None = None
    first_messages: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    upgraded_at: list[float] = field(default_factory=list)  # monotonic time of each upgrade
    texts: list[str] = field(default_factory=list)
    frames_in: int = 0
    _server: Server | None = None
    _connections: int = 0

    @property
    def uri(self) -> str:
        """The socket URI to put in an NCCO."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{self.host}:{port}/socket"

    async def start(self) -> FakeSocket:
        """Listen on a port from the OS."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=self.ssl_context,
            process_request=self._check,
            compression=None,
        )
        return self

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        self.authorizations.append(request.headers.get("Authorization"))
        self.upgraded_at.append(time.monotonic())
        if self.refuse is not None:
            body = HTTPStatus(self.refuse).phrase.encode()
            return WsResponse(self.refuse, HTTPStatus(self.refuse).phrase, Headers(), body)
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self._connections += 1
        number = self._connections
        first = await connection.recv()
        assert isinstance(first, str)
        self.first_messages.append(json.loads(first))
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send_delayed(connection, queue))
        count = 0
        try:
            async for message in connection:
                if isinstance(message, str):
                    self.texts.append(message)
                    continue
                count += 1
                self.frames_in += 1
                if self.close_after is not None and number == 1 and count > self.close_after:
                    await connection.close(1001, "going away")
                    break
                if self.delay:
                    queue.put_nowait((time.monotonic() + self.delay, message))
                else:
                    await connection.send(message)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send_delayed(
        self, connection: ServerConnection, queue: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        if not self.delay:
            return
        started = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            if self.silence_first:
                silence = bytes(640)
                for k in range(int(self.delay / 0.02)):
                    await asyncio.sleep(max(0.0, started + k * 0.02 - time.monotonic()))
                    await connection.send(silence)
            while True:
                due, frame = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await connection.send(frame)
