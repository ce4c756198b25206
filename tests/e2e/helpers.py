"""What the end-to-end tests do as Vonage would: sign webhooks, read NCCOs, open calls.

Written against docs/contract.md and docs/vonage-protocol.md directly, with httpx and the
websockets client, so that these tests depend on no other package of the project.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import ClientConnection, connect

from stack import Replica, Stack

#: 20 ms of 16-bit mono PCM at 16 kHz (docs/vonage-protocol.md §3).
FRAME_BYTES = 640
TIMEOUT = 10.0


def vonage_signature(secret: str, body: bytes = b"") -> str:
    """``Authorization`` of a signed webhook: HS256 JWT as Vonage signs it (§6)."""
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "e2e0api0",
        "application_id": str(uuid.uuid4()),
    }
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def answer_params(call_uuid: str) -> dict[str, str]:
    """The answer request's fields for an inbound call (§1)."""
    return {
        "to": "447700900000",
        "from": "447700900001",
        "uuid": call_uuid,
        "conversation_uuid": f"CON-{uuid.uuid4()}",
    }


@dataclass(frozen=True)
class SocketEndpoint:
    """The NCCO connect action's websocket endpoint (§2)."""

    uri: str
    content_type: str
    headers: dict[str, Any]
    authorization: str


def socket_endpoint(ncco: list[dict[str, Any]]) -> SocketEndpoint:
    """The websocket endpoint of the NCCO's connect action."""
    (connect_action,) = [action for action in ncco if action["action"] == "connect"]
    (endpoint,) = connect_action["endpoint"]
    assert endpoint["type"] == "websocket"
    return SocketEndpoint(
        uri=endpoint["uri"],
        content_type=endpoint["content-type"],
        headers=endpoint["headers"],
        authorization=endpoint["authorization"]["value"],
    )


def stack_client(stack: Stack) -> httpx.AsyncClient:
    """An HTTPS client that trusts the local CA only (verification on)."""
    return httpx.AsyncClient(
        base_url=stack.base_url, verify=stack.ssl_context(), trust_env=False, timeout=TIMEOUT
    )


async def fetch_ncco(
    client: httpx.AsyncClient, stack: Stack, call_uuid: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """A signed POST /webhooks/answer through Caddy; the NCCO it returns."""
    body = json.dumps(answer_params(call_uuid), separators=(",", ":")).encode()
    signed = {
        "Authorization": vonage_signature(stack.secrets.vonage_signature_secret, body),
        "Content-Type": "application/json",
    }
    response = await client.post("/webhooks/answer", content=body, headers=signed | (headers or {}))
    assert response.status_code == httpx.codes.OK, response.text
    ncco: list[dict[str, Any]] = response.json()
    return ncco


def first_message(endpoint: SocketEndpoint) -> str:
    """``websocket:connected``, the endpoint headers flattened to the top level (§3)."""
    return json.dumps(
        {"event": "websocket:connected", "content-type": endpoint.content_type, **endpoint.headers}
    )


@asynccontextmanager
async def open_call(stack: Stack, endpoint: SocketEndpoint) -> AsyncIterator[ClientConnection]:
    """Connect to the endpoint through Caddy as Vonage does, and send the first message."""
    async with connect(
        endpoint.uri,
        ssl=stack.ssl_context(),
        additional_headers={"Authorization": endpoint.authorization},
        compression=None,
        open_timeout=TIMEOUT,
    ) as socket:
        await socket.send(first_message(endpoint))
        yield socket


async def answered_call_endpoint(stack: Stack) -> SocketEndpoint:
    """The socket endpoint of a freshly answered call."""
    async with stack_client(stack) as client:
        return socket_endpoint(await fetch_ncco(client, stack, str(uuid.uuid4())))


def calls_active(replica: Replica) -> int:
    """The replica's ``audio_calls_active`` gauge, read from its own /metrics."""
    text = httpx.get(f"{replica.url}/metrics", timeout=TIMEOUT, trust_env=False).text
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "audio_calls_active":
            return int(float(value))
    raise AssertionError("no audio_calls_active in /metrics")


def wait_idle(stack: Stack, timeout: float = TIMEOUT) -> None:
    """Until no replica has a call and Caddy counts no open request upstream."""
    deadline = time.monotonic() + timeout
    while True:
        replicas = [r for r in stack.replicas if r.process.alive]
        upstreams = stack.admin.upstreams()
        if all(calls_active(r) == 0 for r in replicas) and all(
            u["num_requests"] == 0 for u in upstreams
        ):
            return
        assert time.monotonic() < deadline, f"calls still open: {upstreams}"
        time.sleep(0.05)


def raw_get(stack: Stack, target: str, host: str | None = None) -> tuple[int, bytes]:
    """GET ``target`` sent byte for byte over TLS (httpx would normalise ``..``)."""
    port = stack.placeholders.https_port
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host or stack.public_host}\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as tcp,
        stack.ssl_context().wrap_socket(tcp, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


async def post_event(client: httpx.AsyncClient, stack: Stack, event: dict[str, Any]) -> int:
    """A signed POST /webhooks/events through Caddy; its status."""
    body = json.dumps(event).encode()
    signature = vonage_signature(stack.secrets.vonage_signature_secret, body)
    response = await client.post(
        "/webhooks/events",
        content=body,
        headers={"Authorization": signature, "Content-Type": "application/json"},
    )
    return response.status_code
