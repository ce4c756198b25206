"""Signed webhooks as Vonage sends them (docs/vonage-protocol.md §6)."""

from __future__ import annotations

import hashlib
import ssl
from urllib.parse import parse_qsl

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.vonage.signing import Signer, compact_json, payload_hash, query_json
from simulator.vonage.webhook import WebhookClient
from webhooks.signatures import SignatureVerifier

SECRET = "a-signature-secret-long-enough-for-hs256"


def test_claims_are_vonages() -> None:
    """The token carries iat, jti, iss Vonage, payload_hash, api_key and application_id."""
    body = b'{"status":"started"}'
    token = Signer(SECRET, "abcd1234", "app-1").token(body, now=1_700_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert claims["iat"] == 1_700_000_000
    assert claims["iss"] == "Vonage"
    assert claims["payload_hash"] == hashlib.sha256(body).hexdigest()
    assert claims["api_key"] == "abcd1234"
    assert claims["application_id"] == "app-1"
    assert len(claims["jti"]) >= 32
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_wrong_key_does_not_verify() -> None:
    """A receiver with another secret rejects the token."""
    token = Signer(SECRET).token(b"")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-that-is-long-enough-too", algorithms=["HS256"])


def test_each_token_has_its_own_jti() -> None:
    """jti differs per request, so a receiver can refuse replays."""
    signer = Signer(SECRET)
    assert (
        len({jwt.decode(signer.token(b""), SECRET, algorithms=["HS256"])["jti"] for _ in range(5)})
        == 5
    )


def test_authorization_header() -> None:
    """The header value is 'Bearer <jwt>'."""
    value = Signer(SECRET).authorization(b"x")
    assert value.startswith("Bearer ")
    assert jwt.decode(value[7:], SECRET, algorithms=["HS256"])["payload_hash"] == payload_hash(b"x")


@given(st.binary(max_size=2048))
def test_payload_hash_is_sha256_of_exact_bytes(body: bytes) -> None:
    """payload_hash is the hex SHA-256 of exactly the bytes sent."""
    assert payload_hash(body) == hashlib.sha256(body).hexdigest()


FIELDS = {"to": "447700900000", "uuid": "abc", "headers": {"call_uuid": "abc", "attempt": 1}}


def test_compact_json_has_no_whitespace() -> None:
    """A POST body is compact JSON, as Vonage sends it."""
    assert compact_json(FIELDS) == (
        b'{"to":"447700900000","uuid":"abc","headers":{"call_uuid":"abc","attempt":1}}'
    )


async def _sent(method: str) -> tuple[httpx.Request, dict[str, object]]:
    """What WebhookClient sends for ``method``, and the claims of its signature."""
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = WebhookClient(ssl.create_default_context(), Signer(SECRET))
    await client.client.aclose()
    client.client = httpx.AsyncClient(transport=httpx.MockTransport(respond))
    try:
        await client.notify("https://example.test/webhooks/events", FIELDS, method=method, log=[])
    finally:
        await client.aclose()
    (request,) = seen
    token = request.headers["authorization"].removeprefix("Bearer ")
    return request, jwt.decode(token, SECRET, algorithms=["HS256"])


async def test_post_hash_covers_the_compact_body() -> None:
    """A POST's payload_hash is the SHA-256 of the compact JSON body it carries."""
    request, claims = await _sent("POST")
    assert request.content == compact_json(FIELDS)
    assert claims["payload_hash"] == hashlib.sha256(request.content).hexdigest()


async def test_get_hash_covers_the_query_in_order() -> None:
    """A GET's payload_hash covers its query as compact JSON in order (Vonage's article),
    and the webhooks service's check accepts it."""
    request, claims = await _sent("GET")
    query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
    assert [name for name, _ in query] == list(FIELDS)
    assert claims["payload_hash"] == hashlib.sha256(query_json(dict(query))).hexdigest()
    verifier = SignatureVerifier(SECRET.encode(), 300)
    verifier.verify(request.headers["authorization"], b"", query=query)
