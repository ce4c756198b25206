"""Tests for webhooks.credentials: the per-call socket JWT of docs/contract.md."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.webhooks.conftest import CALL_UUID, SOCKET_SECRET
from webhooks.credentials import SocketCredentials

KEY = SOCKET_SECRET.encode()


def _decode(token: str, key: bytes = KEY) -> dict[str, object]:
    """Check a token the way audio_socket does (HS256, audience, 5 s leeway)."""
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["HS256"], audience="audio_socket", leeway=5
    )
    return claims


def test_claims_follow_the_contract() -> None:
    """sub is the call uuid; aud, iss, iat, exp = iat + ttl, a jti and the attempt are set."""
    now = time.time()
    token = SocketCredentials(KEY, ttl=300).mint(CALL_UUID, 2, now=now)
    claims = _decode(token)
    assert claims["sub"] == CALL_UUID
    assert claims["aud"] == "audio_socket"
    assert claims["iss"] == "webhooks"
    assert claims["iat"] == int(now)
    assert claims["exp"] == int(now) + 300
    assert isinstance(claims["jti"], str)
    assert claims["jti"]
    assert claims["attempt"] == 2


def test_lifetime_counts_from_the_delay() -> None:
    """With a delay (the greeting), exp is iat + delay, rounded up, + ttl."""
    now = 1_700_000_000.0
    claims = jwt.decode(
        SocketCredentials(KEY, ttl=30).mint(CALL_UUID, 1, delay=61.2, now=now),
        KEY,
        algorithms=["HS256"],
        audience="audio_socket",
        options={"verify_exp": False},
    )
    assert claims["exp"] == int(now) + 62 + 30


def test_extra_claims_never_replace_the_contract_ones() -> None:
    """Claims added by ``extra`` appear, but cannot change sub, exp, jti or attempt."""
    extra = {"region_url": "https://api-eu-1.vonage.com", "sub": "other", "attempt": 9}
    claims = _decode(SocketCredentials(KEY, ttl=30).mint(CALL_UUID, 1, extra=extra))
    assert claims["region_url"] == "https://api-eu-1.vonage.com"
    assert (claims["sub"], claims["attempt"]) == (CALL_UUID, 1)


def test_header_is_hs256() -> None:
    """The credential is signed with HS256."""
    token = SocketCredentials(KEY, ttl=300).mint(CALL_UUID, 1)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_each_credential_is_fresh() -> None:
    """Two credentials for the same call differ (a new jti every time)."""
    credentials = SocketCredentials(KEY, ttl=300)
    first, second = (_decode(credentials.mint(CALL_UUID, 1)) for _ in range(2))
    assert first["jti"] != second["jti"]


def test_expired_credential_is_refused() -> None:
    """A credential past its ttl (beyond the 5 s leeway) no longer verifies."""
    token = SocketCredentials(KEY, ttl=10).mint(CALL_UUID, 1, now=time.time() - 60)
    with pytest.raises(jwt.ExpiredSignatureError):
        _decode(token)


def test_other_key_is_refused() -> None:
    """A credential does not verify under any other key."""
    token = SocketCredentials(KEY, ttl=300).mint(CALL_UUID, 1)
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(token, key=b"another-key-of-sufficient-length-0123456789")
