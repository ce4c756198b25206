"""Signed webhooks on both routes: unsigned, altered, replayed, expired and GET requests."""

from __future__ import annotations

import hashlib
import json
import logging
import time

import pytest

from tests.webhooks.conftest import (
    CALL_UUID,
    TestClient,
    make_settings,
    query_hash,
    sign,
)
from tests.webhooks.helpers import (
    ANSWER,
    ANSWER_PARAMS,
    EVENTS,
    answer,
    metric_samples,
    signed_get,
    socket_event,
)
from webhooks.app import create_app


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        sign(secret="wrong-secret-" + "x" * 64),
        sign(iat=1_000_000_000),
    ],
)
@pytest.mark.parametrize("path", [ANSWER, EVENTS])
def test_unsigned_requests_are_refused(
    client: TestClient, logs: pytest.LogCaptureFixture, path: str, authorization: str | None
) -> None:
    """A missing or bad signature is 401, acted on nowhere, logged only as a refusal."""
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    body = json.dumps(ANSWER_PARAMS | {"status": "failed"}).encode()
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "invalid_signature"
    assert [r.getMessage() for r in logs.records] == ["request refused"]
    assert ("webhooks_events_total", frozenset({("status", "failed")})) not in metric_samples(
        client
    )


def test_body_changed_after_signing_is_refused(client: TestClient) -> None:
    """A POST whose body differs from the signed one is 401."""
    body = json.dumps({"uuid": CALL_UUID, "status": "answered"}).encode()
    response = client.post(
        EVENTS,
        content=body.replace(b"answered", b"completed"),
        headers={"content-type": "application/json", "authorization": sign(body)},
    )
    assert response.status_code == 401
    assert "payload_hash" in response.json()["detail"]


def test_replayed_signature_is_refused(client: TestClient) -> None:
    """A signed request sent again, byte for byte, is 401 naming the jti: nothing minted."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    body = json.dumps(socket_event(connect, "disconnected")).encode()
    headers = {"content-type": "application/json", "authorization": sign(body)}
    first = client.post(EVENTS, content=body, headers=headers)
    assert first.status_code == 200
    for _ in range(5):
        again = client.post(EVENTS, content=body, headers=headers)
        assert again.status_code == 401
        assert "jti" in again.json()["detail"]
    assert ("webhooks_reconnects_total", frozenset()) in metric_samples(client)
    assert metric_samples(client)[("webhooks_reconnects_total", frozenset())] == 1


def test_expired_signature_is_refused_beyond_the_skew(client: TestClient) -> None:
    """exp 200 s ago is refused though iat is fresh: exp has a skew of seconds, not 300."""
    now = int(time.time())
    body = json.dumps(ANSWER_PARAMS).encode()
    for exp, status in ((now - 200, 401), (now - 30, 401), (now - 2, 200), (now + 60, 200)):
        headers = {"content-type": "application/json", "authorization": sign(body, exp=exp)}
        response = client.post(ANSWER, content=body, headers=headers)
        assert response.status_code == status, exp
    future = sign(body, nbf=now + 60)
    response = client.post(
        ANSWER, content=body, headers={"content-type": "application/json", "authorization": future}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("path", [ANSWER, EVENTS])
def test_get_is_refused_naming_the_setting(client: TestClient, path: str) -> None:
    """With verification on, a GET webhook is 405 naming WEBHOOKS_ALLOW_GET, even signed."""
    response = signed_get(client, path, ANSWER_PARAMS | {"status": "disconnected"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert "WEBHOOKS_ALLOW_GET" in response.json()["detail"]
    assert client.head(path).status_code == 405


def test_allowed_get_is_checked_against_its_query(caplog: pytest.LogCaptureFixture) -> None:
    """WEBHOOKS_ALLOW_GET: a GET passes only with payload_hash over its own query."""
    caplog.set_level(logging.WARNING, logger="webhooks")
    with TestClient(create_app(make_settings(webhooks_allow_get=True))) as client:
        assert any("WEBHOOKS_ALLOW_GET=true" in r.getMessage() for r in caplog.records)
        assert signed_get(client, ANSWER, ANSWER_PARAMS).status_code == 200
        victim = ANSWER_PARAMS | {"uuid": "victim-call"}
        # A token signed for another request, or over an empty body, covers no query.
        for token in (
            sign(payload_hash=query_hash(ANSWER_PARAMS)),
            sign(payload_hash=hashlib.sha256(b"").hexdigest()),
            sign(),
        ):
            response = client.get(ANSWER, params=victim, headers={"authorization": token})
            assert response.status_code == 401
            assert "payload_hash" in response.json()["detail"]
        reordered = dict(reversed(list(ANSWER_PARAMS.items())))
        token = sign(payload_hash=query_hash(ANSWER_PARAMS))
        response = client.get(ANSWER, params=reordered, headers={"authorization": token})
        assert response.status_code == 401  # the order is part of what is signed


def test_health_and_metrics_are_not_signed(client: TestClient) -> None:
    """/healthz and /metrics answer without a signature."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200


def test_verification_off_accepts_unsigned_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    """VONAGE_VERIFY_SIGNATURES=false serves unsigned requests and warns at start-up."""
    caplog.set_level(logging.INFO, logger="webhooks")
    settings = make_settings(vonage_verify_signatures=False, vonage_signature_secret=None)
    with TestClient(create_app(settings)) as client:
        response = client.get(ANSWER, params=ANSWER_PARAMS)
    assert response.status_code == 200
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "VONAGE_VERIFY_SIGNATURES=false" in warnings[0].getMessage()
