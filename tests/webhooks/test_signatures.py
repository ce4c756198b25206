"""Tests for webhooks.signatures: Vonage signed webhooks (docs/vonage-protocol.md §6)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from tests.webhooks.conftest import SIGNATURE_SECRET, SOCKET_SECRET, sign
from webhooks.credentials import SocketCredentials
from webhooks.errors import SignatureRejected
from webhooks.replay import ReplayCache
from webhooks.signatures import SignatureVerifier, query_payload

BODY = b'{"uuid":"abc","status":"answered"}'


@pytest.fixture
def verifier() -> SignatureVerifier:
    """A verifier with the default 300 s skew."""
    return SignatureVerifier(SIGNATURE_SECRET.encode(), max_age=300)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_signature_with_body(verifier: SignatureVerifier) -> None:
    """A correctly signed request with a matching payload_hash passes."""
    claims = verifier.verify(sign(BODY), BODY)
    assert claims["iss"] == "Vonage"


def test_no_content_needs_no_payload_hash(verifier: SignatureVerifier) -> None:
    """No body and no query: nothing for payload_hash to cover, so it may be absent."""
    verifier.verify(sign(), b"")


def test_payload_hash_of_an_empty_body_is_checked(verifier: SignatureVerifier) -> None:
    """payload_hash, when present, is checked even against an empty body."""
    verifier.verify(sign(payload_hash=hashlib.sha256(b"").hexdigest()), b"")
    with pytest.raises(SignatureRejected, match="payload_hash does not match"):
        verifier.verify(sign(BODY), b"")


QUERY = [("to", "447700900000"), ("uuid", "abc"), ("headers", '{"attempt":1}')]


def test_query_payload_is_compact_json_in_order() -> None:
    """A GET's signed content: a JSON object of its parameters, in order, no whitespace."""
    expected = b'{"to":"447700900000","uuid":"abc","headers":"{\\"attempt\\":1}"}'
    assert query_payload(QUERY) == expected
    assert query_payload([("name", "\u00e9")]) == '{"name":"\u00e9"}'.encode()


def test_get_query_is_covered(verifier: SignatureVerifier) -> None:
    """A GET passes only with payload_hash over its own query: order and values count."""
    signed = hashlib.sha256(query_payload(QUERY)).hexdigest()
    verifier.verify(sign(payload_hash=signed), b"", query=QUERY)
    changed = [*QUERY[:1], ("uuid", "victim"), *QUERY[2:]]
    for query in (changed, list(reversed(QUERY))):
        with pytest.raises(SignatureRejected, match="payload_hash does not match"):
            verifier.verify(sign(payload_hash=signed), b"", query=query)
    with pytest.raises(SignatureRejected, match="lacks payload_hash"):
        verifier.verify(sign(), b"", query=QUERY)


def test_get_with_a_repeated_parameter_is_refused(verifier: SignatureVerifier) -> None:
    """A query naming a parameter twice has no one JSON form: refused."""
    query = [("uuid", "a"), ("uuid", "b")]
    with pytest.raises(SignatureRejected, match="once"):
        verifier.verify(sign(payload_hash="0" * 64), b"", query=query)


def test_jti_is_required(verifier: SignatureVerifier) -> None:
    """A token without jti cannot be remembered, so it is refused."""
    with pytest.raises(SignatureRejected, match="jti"):
        verifier.verify(sign(omit=("jti",)), b"")
    with pytest.raises(SignatureRejected, match="jti"):
        verifier.verify(sign(jti=12), b"")


def test_replayed_jti_is_refused() -> None:
    """The same jti twice within the window is refused; a fresh one passes."""
    verifier = SignatureVerifier(SIGNATURE_SECRET.encode(), 300, replay=ReplayCache(600, 1000))
    token = sign(BODY)
    verifier.verify(token, BODY)
    with pytest.raises(SignatureRejected, match="already used"):
        verifier.verify(token, BODY)
    verifier.verify(sign(BODY), BODY)


def test_a_refused_token_takes_no_slot() -> None:
    """A token that fails another check is not remembered: its jti still works after."""
    cache = ReplayCache(600, 1000)
    verifier = SignatureVerifier(SIGNATURE_SECRET.encode(), 300, replay=cache)
    with pytest.raises(SignatureRejected, match="payload_hash"):
        verifier.verify(sign(BODY, jti="j-1"), b"{}")
    assert len(cache) == 0
    verifier.verify(sign(BODY, jti="j-1"), BODY)


@pytest.mark.parametrize(("offset", "accepted"), [(-200, False), (-6, False), (-4, True)])
def test_exp_has_its_own_small_skew(
    verifier: SignatureVerifier, offset: int, accepted: bool
) -> None:
    """exp in the past is allowed only SIGNATURE_CLOCK_SKEW (5 s), not the iat window."""
    token = sign(BODY, exp=int(time.time()) + offset)
    if accepted:
        verifier.verify(token, BODY)
    else:
        with pytest.raises(SignatureRejected, match="not fresh"):
            verifier.verify(token, BODY)


def test_nbf_in_the_future_is_refused(verifier: SignatureVerifier) -> None:
    """nbf 60 s ahead is refused, 3 s ahead (skew) accepted."""
    with pytest.raises(SignatureRejected, match="not fresh"):
        verifier.verify(sign(BODY, nbf=int(time.time()) + 60), BODY)
    verifier.verify(sign(BODY, nbf=int(time.time()) + 3), BODY)


def test_wrong_key(verifier: SignatureVerifier) -> None:
    """A token signed with another secret is refused."""
    with pytest.raises(SignatureRejected, match="does not verify"):
        verifier.verify(sign(BODY, secret="not-the-secret-but-long-enough-0123456789"), BODY)


def test_alg_none(verifier: SignatureVerifier) -> None:
    """An unsigned `alg: none` token is refused."""
    claims = {"iat": int(time.time()), "payload_hash": "0" * 64}
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(SignatureRejected, match="only HS256"):
        verifier.verify(f"Bearer {token}", b"")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms(verifier: SignatureVerifier, algorithm: str) -> None:
    """HMAC with the right key but another algorithm is refused: HS256 only."""
    with pytest.raises(SignatureRejected, match="only HS256"):
        verifier.verify(sign(BODY, algorithm=algorithm), BODY)


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_stale_or_future_iat(verifier: SignatureVerifier, offset: int) -> None:
    """An iat more than SIGNATURE_MAX_AGE away, past or future, is refused."""
    with pytest.raises(SignatureRejected, match="not fresh"):
        verifier.verify(sign(BODY, iat=time.time() + offset), BODY)


@pytest.mark.parametrize("offset", [-299, 299])
def test_iat_within_skew(verifier: SignatureVerifier, offset: int) -> None:
    """Clock skew within SIGNATURE_MAX_AGE either way is accepted."""
    verifier.verify(sign(BODY, iat=int(time.time()) + offset), BODY)


def test_body_changed_after_signing(verifier: SignatureVerifier) -> None:
    """A body that differs from the one signed (by one byte) is refused."""
    with pytest.raises(SignatureRejected, match="payload_hash does not match"):
        verifier.verify(sign(BODY), BODY.replace(b"answered", b"answereD"))


def test_body_without_payload_hash(verifier: SignatureVerifier) -> None:
    """A request with a body must carry payload_hash."""
    with pytest.raises(SignatureRejected, match="lacks payload_hash"):
        verifier.verify(sign(), BODY)


def test_header_missing(verifier: SignatureVerifier) -> None:
    """No Authorization header is refused."""
    with pytest.raises(SignatureRejected, match="missing"):
        verifier.verify(None, BODY)


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token"])
def test_header_not_bearer(verifier: SignatureVerifier, value: str) -> None:
    """An Authorization header that is not `Bearer <JWT>` is refused."""
    with pytest.raises(SignatureRejected, match="Bearer <JWT>"):
        verifier.verify(value, b"")


@pytest.mark.parametrize("token", ["x", "a.b.c", "e30.e30.", "\u00e9t\u00e9.x.y"])
def test_garbage_token(verifier: SignatureVerifier, token: str) -> None:
    """A bearer value that is not a JWT is refused."""
    with pytest.raises(SignatureRejected):
        verifier.verify(f"Bearer {token}", b"")


def test_bearer_scheme_is_case_insensitive(verifier: SignatureVerifier) -> None:
    """`bearer` in any case is accepted, as HTTP auth schemes are case-insensitive."""
    verifier.verify("bearer " + sign().removeprefix("Bearer "), b"")


def test_iat_missing(verifier: SignatureVerifier) -> None:
    """A token without iat is refused: freshness cannot be checked."""
    with pytest.raises(SignatureRejected, match="iat"):
        verifier.verify(sign(omit=("iat",)), b"")


def test_iat_not_a_number(verifier: SignatureVerifier) -> None:
    """A string iat is refused even when it would parse as a number."""
    with pytest.raises(SignatureRejected, match="iat"):
        verifier.verify(sign(iat=str(int(time.time()))), b"")  # type: ignore[arg-type]


def test_payload_hash_uppercase_hex(verifier: SignatureVerifier) -> None:
    """Upper-case hex in payload_hash is the same digest."""
    token = sign(BODY, payload_hash=hashlib.sha256(BODY).hexdigest().upper())
    verifier.verify(token, BODY)


def test_non_ascii_payload_hash(verifier: SignatureVerifier) -> None:
    """A payload_hash with non-ASCII characters is refused, not a crash."""
    with pytest.raises(SignatureRejected, match="payload_hash"):
        verifier.verify(sign(BODY, payload_hash="\u00e9" * 64), BODY)


def test_token_with_audience_is_refused(verifier: SignatureVerifier) -> None:
    """A JWT meant for someone else (an `aud` claim, like a socket credential) is refused."""
    with pytest.raises(SignatureRejected):
        verifier.verify(sign(aud="audio_socket"), b"")


def test_socket_credential_is_not_a_signature() -> None:
    """A socket credential never passes as a signed webhook, even under its own key."""
    credential = SocketCredentials(SOCKET_SECRET.encode(), ttl=300).mint("call", 1)
    with pytest.raises(SignatureRejected):
        SignatureVerifier(SOCKET_SECRET.encode(), 300).verify(f"Bearer {credential}", b"")
