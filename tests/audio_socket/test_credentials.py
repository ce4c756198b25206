"""The per-call socket credential: what is admitted and what is refused."""

from __future__ import annotations

import base64
import json
import time

import pytest

from audio_socket.credentials import Credential, parse_authorization, verify_credential
from audio_socket.errors import CredentialRejected
from tests.audio_socket.helpers import OTHER_SECRET, SECRET, mint

KEY = SECRET.encode()


def unsigned_token(**claims: object) -> str:
    """An ``alg: none`` token: a header and claims, no signature."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"sub": "call-1", "aud": "audio_socket", "iss": "webhooks", "iat": now, "exp": now + 60}
    body.update(claims)
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


def test_valid_credential_names_the_call() -> None:
    """A token minted per the contract yields the call it admits."""
    credential = verify_credential(mint("abc-123", ttl=120), KEY)
    assert isinstance(credential, Credential)
    assert credential.call_uuid == "abc-123"
    assert credential.expires_at > time.time() + 100


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint(secret=OTHER_SECRET), "InvalidSignatureError"),
        (mint(algorithm="HS512"), "InvalidAlgorithmError"),
        (mint(algorithm="HS384"), "InvalidAlgorithmError"),
        (unsigned_token(), "InvalidAlgorithmError"),
        (mint(aud="webhooks"), "InvalidAudienceError"),
        (mint(iss="someone-else"), "InvalidIssuerError"),
        (mint(sub=None), "MissingRequiredClaimError"),
        (mint(exp=None), "MissingRequiredClaimError"),
        (mint(iat=None), "MissingRequiredClaimError"),
        (mint(iat=int(time.time()) + 3600), "ImmatureSignatureError"),
        ("not-a-jwt", "DecodeError"),
        ("a.b.c", "DecodeError"),
    ],
    ids=[
        "wrong-key",
        "HS512",
        "HS384",
        "alg-none",
        "wrong-audience",
        "wrong-issuer",
        "no-sub",
        "no-exp",
        "no-iat",
        "issued-in-future",
        "garbage",
        "three-garbage-parts",
    ],
)
def test_invalid_credentials_are_rejected(token: str, reason: str) -> None:
    """Wrong key, algorithm, audience, issuer or missing claims: 401."""
    with pytest.raises(CredentialRejected) as caught:
        verify_credential(token, KEY)
    assert reason in str(caught.value)
    assert token not in str(caught.value)


def test_expired_credential_is_rejected() -> None:
    """A token past exp by more than the 5 s leeway is refused."""
    with pytest.raises(CredentialRejected, match="expired"):
        verify_credential(mint(ttl=-10), KEY)


def test_leeway_admits_a_token_just_expired() -> None:
    """Clocks differ: a token expired 2 s ago is still admitted (leeway 5 s)."""
    assert verify_credential(mint(ttl=-2), KEY).call_uuid == "call-1"


def test_empty_sub_is_rejected() -> None:
    """A credential must name a call."""
    with pytest.raises(CredentialRejected, match="names no call"):
        verify_credential(mint(""), KEY)


def test_rejection_maps_to_401() -> None:
    """Every credential rejection is an HTTP 401 before the upgrade."""
    assert CredentialRejected.status == 401


@pytest.mark.parametrize("header", ["Bearer tok", "bearer tok", "BEARER  tok ", " Bearer tok"])
def test_bearer_scheme_is_case_insensitive(header: str) -> None:
    """The scheme is matched without case; the token is trimmed."""
    assert parse_authorization([header]) == "tok"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([], "missing"),
        (["Basic dXNlcjpwYXNz"], "not a bearer"),
        (["Bearer"], "not a bearer"),
        (["Bearer   "], "not a bearer"),
        (["tok"], "not a bearer"),
        (["Bearer a", "Bearer b"], "several"),
    ],
)
def test_bad_authorization_headers_are_rejected(values: list[str], reason: str) -> None:
    """No header, another scheme, no token or two headers: 401."""
    with pytest.raises(CredentialRejected, match=reason):
        parse_authorization(values)


def test_jti_and_attempt_are_read() -> None:
    """The credential's jti and connect attempt reach the server."""
    credential = verify_credential(mint(jti="j-1", attempt=3), KEY)
    assert (credential.jti, credential.attempt) == ("j-1", 3)


@pytest.mark.parametrize(
    "token",
    [
        mint(attempt=0),
        mint(attempt="1"),
        mint(attempt=True),
        mint(attempt=1001),
        mint(jti="x" * 129),
    ],
)
def test_bad_jti_or_attempt_is_refused(token: str) -> None:
    """An attempt that is not 1 to 1000, or an overlong jti, is no credential of ours."""
    with pytest.raises(CredentialRejected):
        verify_credential(token, KEY)
