"""Hostile credentials: bad socket credentials, bad webhook signatures,
and a burst of 1,000 refused upgrades — each answered 401 through Caddy while a
simulated call is served alongside and every service stays healthy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stack import Stack
from tests.e2e.helpers import answer_params, stack_client
from tests.reliability.helpers import (
    TIMEOUT,
    calls_alongside,
    metric,
    socket_credential,
    socket_uri,
    unsigned_token,
)

pytestmark = pytest.mark.reliability

UNAUTHORIZED = 401
BURST = 1000
BURST_CONCURRENCY = 50
#: 1,000 refusals through TLS and Caddy on a loaded 2-core machine: "fast" is this.
BURST_BUDGET_S = 30.0


async def upgrade_status(stack: Stack, authorization: str | None) -> int:
    """The HTTP status of an upgrade through Caddy: 101 when it opened."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    try:
        async with connect(
            socket_uri(stack),
            ssl=stack.ssl_context(),
            additional_headers=headers,
            open_timeout=TIMEOUT,
        ):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_bad_socket_credentials_get_401(hostile_stack: Stack) -> None:
    """No, forged, expired, alg:none, wrong audience: 401 before any socket; valid: 101."""
    stack = hostile_stack
    secret = stack.secrets.socket_token_secret
    call = str(uuid.uuid4())
    now = int(time.time())
    cases: dict[str, str | None] = {
        "missing": None,
        "empty": "",
        "not a bearer": "Basic dXNlcjpwYXNz",
        "garbage": "Bearer not.a.jwt",
        "forged": socket_credential("x" * 32 + "forged-key", call),
        "expired": socket_credential(secret, call, iat=now - 900, exp=now - 600),
        "alg none": "Bearer "
        + unsigned_token({"sub": call, "aud": "audio_socket", "exp": now + 300}),
        "wrong audience": socket_credential(secret, call, aud="webhooks"),
        "HS512": "Bearer "
        + jwt.encode({"sub": call, "aud": "audio_socket", "exp": now + 300}, secret * 2, "HS512"),
    }
    async with calls_alongside(stack):
        statuses = {name: await upgrade_status(stack, value) for name, value in cases.items()}
        valid = await upgrade_status(stack, socket_credential(secret, call))
    assert statuses == dict.fromkeys(cases, UNAUTHORIZED)
    assert valid == 101  # the same minting, with nothing wrong, is let in


def vonage_jwt(secret: str, body: bytes = b"", **overrides: Any) -> str:
    """A signed-webhook ``Authorization`` (docs/vonage-protocol.md §6)."""
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "hostile0",
    } | overrides
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def disconnected_event(stack: Stack) -> bytes:
    """A ``disconnected`` event of our socket leg: acted on, it would mint a reconnect."""
    return json.dumps(
        {
            "from": "447700900000",
            "to": socket_uri(stack),
            "uuid": str(uuid.uuid4()),
            "conversation_uuid": f"CON-{uuid.uuid4()}",
            "status": "disconnected",
            "timestamp": "2026-11-24T09:00:00.000Z",
            "headers": {"call_uuid": str(uuid.uuid4()), "attempt": 1},
        }
    ).encode()


async def test_bad_webhook_signatures_get_401(hostile_stack: Stack) -> None:
    """Forged, stale, future, alg:none, body-tampered, missing: 401 and no NCCO."""
    stack = hostile_stack
    secret = stack.secrets.vonage_signature_secret
    body = disconnected_event(stack)
    tampered = body.replace(b'"attempt": 1', b'"attempt": 0')
    now = int(time.time())
    signatures: dict[str, Callable[[bytes], str | None]] = {
        "missing": lambda _b: None,
        "forged": lambda b: vonage_jwt("y" * 40, b),
        "stale": lambda b: vonage_jwt(secret, b, iat=now - 3600),
        "from the future": lambda b: vonage_jwt(secret, b, iat=now + 3600),
        "alg none": lambda b: (
            "Bearer "
            + unsigned_token(
                {"iat": now, "iss": "Vonage", "payload_hash": hashlib.sha256(b).hexdigest()}
            )
        ),
        "no payload_hash": lambda _b: (
            "Bearer " + jwt.encode({"iat": now, "iss": "Vonage"}, secret, "HS256")
        ),
    }
    async with calls_alongside(stack), stack_client(stack) as client:
        answers = {name: await _answer(client, sign) for name, sign in signatures.items()}
        events = {name: await _post(client, body, sign(body)) for name, sign in signatures.items()}
        events["body tampered"] = await _post(client, tampered, vonage_jwt(secret, body))
        valid = await _post(client, body, vonage_jwt(secret, body))
    for name, response in [*answers.items(), *events.items()]:
        assert response.status_code == UNAUTHORIZED, (name, response.status_code)
        assert not response.content.lstrip().startswith(b"["), f"{name}: an NCCO"
    assert valid.status_code == httpx.codes.OK
    assert valid.json()[0]["action"] == "connect"  # the same event, signed: a reconnect


async def _answer(client: httpx.AsyncClient, sign: Callable[[bytes], str | None]) -> httpx.Response:
    body = json.dumps(answer_params(str(uuid.uuid4()))).encode()
    headers = _auth(sign(body)) | {"Content-Type": "application/json"}
    return await client.post("/webhooks/answer", content=body, headers=headers)


def _auth(authorization: str | None) -> dict[str, str]:
    return {"Authorization": authorization} if authorization is not None else {}


async def _post(
    client: httpx.AsyncClient, body: bytes, authorization: str | None
) -> httpx.Response:
    headers = _auth(authorization) | {"Content-Type": "application/json"}
    return await client.post("/webhooks/events", content=body, headers=headers)


async def test_a_burst_of_refused_upgrades_is_fast_and_harmless(hostile_stack: Stack) -> None:
    """1,000 upgrades with a forged credential through Caddy: all 401, quickly."""
    stack = hostile_stack
    forged = socket_credential("z" * 48, str(uuid.uuid4()))
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Authorization": forged,
    }
    refused_before = await asyncio.to_thread(_credential_refusals, stack)
    limits = httpx.Limits(max_connections=BURST_CONCURRENCY)
    async with (
        calls_alongside(stack),
        httpx.AsyncClient(
            verify=stack.ssl_context(), trust_env=False, timeout=TIMEOUT, limits=limits
        ) as client,
    ):
        slots = asyncio.Semaphore(BURST_CONCURRENCY)

        async def refused() -> int:
            async with slots:
                response = await client.get(f"{stack.base_url}/socket", headers=upgrade)
                return response.status_code

        started = time.monotonic()
        statuses = await asyncio.gather(*(refused() for _ in range(BURST)))
        took = time.monotonic() - started
    refused_after = await asyncio.to_thread(_credential_refusals, stack)
    assert statuses == [UNAUTHORIZED] * BURST
    assert refused_after - refused_before == BURST
    assert took < BURST_BUDGET_S
    print(f"burst: {BURST} refused upgrades in {took:.1f} s ({BURST / took:.0f}/s)")


def _credential_refusals(stack: Stack) -> float:
    return sum(
        metric(f"{r.url}/metrics", 'audio_calls_total{outcome="rejected_credential"}')
        for r in stack.replicas
    )


async def test_a_captured_signature_mints_nothing_more(hostile_stack: Stack) -> None:
    """Through Caddy: a GET is refused whatever it carries (405), a signed POST replayed
    five times mints one reconnect, and exp 200 s ago is stale though iat is fresh."""
    stack = hostile_stack
    secret = stack.secrets.vonage_signature_secret
    body = disconnected_event(stack)
    captured = vonage_jwt(secret, body)
    now = int(time.time())
    async with calls_alongside(stack), stack_client(stack) as client:
        victim = {"uuid": str(uuid.uuid4()), "to": "447700900000"}
        gets = [
            await client.get(path, params=victim, headers=_auth(captured))
            for path in ("/webhooks/answer", "/webhooks/events")
        ]
        replies = [await _post(client, body, captured) for _ in range(6)]
        stale = await _post(client, body, vonage_jwt(secret, body, exp=now - 200))
    for response in gets:
        assert response.status_code == httpx.codes.METHOD_NOT_ALLOWED
        assert "WEBHOOKS_ALLOW_GET" in response.json()["detail"]
    assert [r.status_code for r in replies] == [200] + [UNAUTHORIZED] * 5
    assert replies[0].json()[0]["action"] == "connect"
    assert all("jti" in r.json()["detail"] for r in replies[1:])
    assert stale.status_code == UNAUTHORIZED
