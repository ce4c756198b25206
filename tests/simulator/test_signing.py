"""Signed webhooks as Vonage sends them (docs/vonage-protocol.md §6)."""

from __future__ import annotations

import hashlib

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.signing import Signer, payload_hash

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
