"""Tests for webhooks.app through Starlette's TestClient: every rule of the webhooks."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    EVENTS_URL,
    SOCKET_SECRET,
    SOCKET_URI,
    TestClient,
    make_settings,
    query_hash,
    sign,
)
from webhooks.app import create_app
from webhooks.ncco import NccoBuilder, speech_seconds

ANSWER = "/webhooks/answer"
EVENTS = "/webhooks/events"
ANSWER_PARAMS = {
    "to": CALLED,
    "from": "447700900001",
    "uuid": CALL_UUID,
    "conversation_uuid": "CON-1f2e3d4c-0000-4000-8000-000000000000",
}
HOSTILE_HEADERS = {
    "host": "evil.example",
    "x-forwarded-host": "evil-forwarded.example",
    "x-forwarded-proto": "http",
    "x-forwarded-port": "81",
    "forwarded": "host=evil-rfc7239.example;proto=http",
}


def answer(client: TestClient, params: dict[str, str], **headers: str) -> httpx.Response:
    """A signed POST of the answer URL, as the application is set up (README, §1)."""
    return post_json(client, ANSWER, params, headers)


def signed_get(
    client: TestClient, path: str, params: dict[str, str], **claims: Any
) -> httpx.Response:
    """A GET signed as Vonage's support article says: payload_hash over the query (§6)."""
    claims.setdefault("payload_hash", query_hash(params))
    response: httpx.Response = client.get(
        path, params=params, headers={"authorization": sign(**claims)}
    )
    return response


def post_json(
    client: TestClient, path: str, payload: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A signed POST of ``payload`` as JSON, the signature over the exact bytes sent."""
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "authorization": sign(body)}
    all_headers.update(headers or {})
    response: httpx.Response = client.post(path, content=body, headers=all_headers)
    return response


def socket_event(connect: dict[str, Any], status: str, leg: str = "leg-1") -> dict[str, Any]:
    """The event Vonage posts about the websocket leg a connect action opened (§4)."""
    endpoint = connect["endpoint"][0]
    return {
        "from": connect.get("from", "447700900099"),
        "to": endpoint["uri"],
        "uuid": leg,
        "conversation_uuid": ANSWER_PARAMS["conversation_uuid"],
        "status": status,
        "direction": "outbound",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "headers": endpoint["headers"],
    }


def credential_claims(connect: dict[str, Any]) -> dict[str, Any]:
    """The claims of a connect's socket credential, checked as audio_socket checks them."""
    value = connect["endpoint"][0]["authorization"]["value"]
    assert value.startswith("Bearer ")
    claims: dict[str, Any] = jwt.decode(
        value.removeprefix("Bearer "), SOCKET_SECRET, algorithms=["HS256"], audience="audio_socket"
    )
    return claims


def metric_samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The /metrics samples keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captured records of the webhooks logger from INFO up, starting empty."""
    caplog.set_level(logging.INFO, logger="webhooks")
    caplog.clear()
    return caplog


# --- /webhooks/answer -------------------------------------------------------------------


def test_answer_returns_greeting_and_connect(client: TestClient) -> None:
    """A signed answer returns talk, then a synchronous connect to our socket."""
    response = answer(client, ANSWER_PARAMS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    talk, connect = response.json()
    assert talk["action"] == "talk"
    assert connect["action"] == "connect"
    assert connect["eventType"] == "synchronous"
    assert connect["eventUrl"] == [EVENTS_URL]
    assert connect["from"] == CALLED
    (endpoint,) = connect["endpoint"]
    assert endpoint["type"] == "websocket"
    assert endpoint["uri"] == SOCKET_URI
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert endpoint["headers"] == {
        "call_uuid": CALL_UUID,
        "attempt": 1,
        "conversation_uuid": ANSWER_PARAMS["conversation_uuid"],
        "from": ANSWER_PARAMS["from"],
        "to": CALLED,
        "direction": "inbound",
    }
    assert endpoint["authorization"]["type"] == "custom"


def test_answer_post_json_with_charset(client: TestClient) -> None:
    """A JSON body with a charset parameter in its Content-Type is read the same."""
    headers = {"content-type": "application/json; charset=utf-8"}
    response = post_json(client, ANSWER, ANSWER_PARAMS, headers)
    assert response.status_code == 200
    assert response.json()[1]["endpoint"][0]["headers"]["call_uuid"] == CALL_UUID


def test_answer_credential_names_the_call(client: TestClient) -> None:
    """The endpoint carries a valid HS256 credential whose sub is the call uuid."""
    claims = credential_claims(answer(client, ANSWER_PARAMS).json()[1])
    assert claims["sub"] == CALL_UUID
    assert claims["iss"] == "webhooks"
    assert claims["attempt"] == 1
    # SOCKET_TOKEN_TTL (30 s) after the greeting's estimated end, and not much more.
    greeting = speech_seconds(make_settings().greeting_text)
    assert greeting + 30 <= claims["exp"] - claims["iat"] <= greeting + 32


def test_long_greeting_cannot_expire_the_credential() -> None:
    """A minute-long greeting: the credential lives past its end by SOCKET_TOKEN_TTL."""
    text = "Please hold. " * 115  # 1,495 characters, 230 words: Vonage's longest talk
    settings = make_settings(greeting_text=text, socket_token_ttl=10)
    with TestClient(create_app(settings)) as client:
        connect = answer(client, ANSWER_PARAMS).json()[1]
    claims = credential_claims(connect)
    # At 150 words a minute (a voice's default rate) it ends after 92 s; at a slow
    # 120, 115 s. The credential outlives both by the TTL.
    assert claims["exp"] - claims["iat"] >= 230 / 120 * 60 + 10


@pytest.mark.parametrize(
    ("text", "at_least"),
    [("a " * 700, 700 / 150 * 60), ('Hello <break time="30s"/> there', 30), ("Hi", 0.5)],
)
def test_speech_estimate_is_generous(text: str, at_least: float) -> None:
    """Short words, SSML pauses: the estimate never falls below a brisk voice's time."""
    assert speech_seconds(text) >= at_least


def test_answer_without_e164_to_uses_random_number(client: TestClient) -> None:
    """A `to` that is not an E.164 number gives randomFromNumber instead of `from`."""
    connect = answer(client, {**ANSWER_PARAMS, "to": "NexmoTest"}).json()[1]
    assert "from" not in connect
    assert connect["randomFromNumber"] is True


def test_answer_accepts_unknown_parameters(client: TestClient) -> None:
    """Newer parameters Vonage may add are accepted and ignored (§1)."""
    params = {**ANSWER_PARAMS, "region_url": "https://api-eu.vonage.com", "SipHeader_X": "1"}
    assert answer(client, params).status_code == 200


def test_hostile_host_headers_do_not_change_urls(client: TestClient) -> None:
    """Host and X-Forwarded-* headers never change a URL in the NCCO."""
    connect = answer(client, ANSWER_PARAMS, **HOSTILE_HEADERS).json()[1]
    assert connect["eventUrl"] == [EVENTS_URL]
    assert connect["endpoint"][0]["uri"] == SOCKET_URI
    body = json.dumps(socket_event(connect, "disconnected")).encode()
    response = client.post(
        EVENTS,
        content=body,
        headers={
            "content-type": "application/json",
            "authorization": sign(body),
            **HOSTILE_HEADERS,
        },
    )
    (reconnect,) = response.json()
    assert reconnect["eventUrl"] == [EVENTS_URL]
    assert reconnect["endpoint"][0]["uri"] == SOCKET_URI


def test_trailing_slash_is_not_redirected(client: TestClient) -> None:
    """No redirect (whose Location would come from Host): a trailing slash is a 404."""
    response = client.get(ANSWER + "/", headers=HOSTILE_HEADERS, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


def test_answer_logs_one_line(client: TestClient, logs: pytest.LogCaptureFixture) -> None:
    """An answer logs a single INFO lifecycle line with the call uuid and no credential."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    assert [r.getMessage() for r in logs.records] == ["call answered"]
    assert logs.records[0].__dict__["uuid"] == CALL_UUID
    token = connect["endpoint"][0]["authorization"]["value"].removeprefix("Bearer ")
    assert token not in logs.text


# --- /webhooks/events -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["disconnected", "failed"])
def test_reconnect_chain_then_apology(client: TestClient, status: str) -> None:
    """Attempt 1 → 2 → 3 → apology, each reconnect with a fresh credential for the call."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    first_headers = connect["endpoint"][0]["headers"]
    seen_jti = {credential_claims(connect)["jti"]}
    for attempt in (2, 3):
        response = post_json(client, EVENTS, socket_event(connect, status, f"leg-{attempt}"))
        assert response.status_code == 200
        (connect,) = response.json()
        assert connect["action"] == "connect"
        assert connect["eventType"] == "synchronous"
        assert connect["from"] == CALLED
        # The call's fields ride along unchanged; only the attempt moves on.
        headers = connect["endpoint"][0]["headers"]
        assert headers == first_headers | {"attempt": attempt}
        claims = credential_claims(connect)
        assert claims["sub"] == CALL_UUID
        assert claims["attempt"] == attempt
        # No greeting before a reconnect: SOCKET_TOKEN_TTL from now.
        assert claims["exp"] - claims["iat"] == 30
        assert claims["jti"] not in seen_jti
        seen_jti.add(claims["jti"])
    response = post_json(client, EVENTS, socket_event(connect, status, "leg-4"))
    assert response.status_code == 200
    assert response.json() == [
        {"action": "talk", "text": make_settings().apology_text, "language": "en-US"}
    ]


@pytest.mark.parametrize(
    "call_uuid",
    ["aaaaaaaabbbbccccdddd0123456789ab", "63f61863-4a51-4f6b-86e1-46edebcf9356"],
    ids=["phone-leg-32-hex", "app-leg-dashed"],
)
def test_both_uuid_forms_answer_and_reconnect(client: TestClient, call_uuid: str) -> None:
    """An inbound phone leg's 32 hex digits and an app leg's dashed uuid both work (§1)."""
    connect = answer(client, ANSWER_PARAMS | {"uuid": call_uuid}).json()[1]
    assert credential_claims(connect)["sub"] == call_uuid
    leg = socket_event(connect, "disconnected", "63f61863-0000-4000-8000-00000000beef")
    (reconnect,) = post_json(client, EVENTS, leg).json()
    headers = reconnect["endpoint"][0]["headers"]
    assert headers == connect["endpoint"][0]["headers"] | {"attempt": 2}
    assert headers["call_uuid"] == call_uuid
    assert credential_claims(reconnect)["sub"] == call_uuid


def test_error_report_without_a_leg_is_answered_204(
    client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    """Vonage's report of an NCCO it could not run carries no uuid: logged, answered 204."""
    report = {
        "reason": "NCCO action 0 (record): unknown action",
        "conversation_uuid": ANSWER_PARAMS["conversation_uuid"],
        "timestamp": "2026-11-24T10:00:00.000Z",
    }
    response = post_json(client, EVENTS, report)
    assert response.status_code == 204
    [record] = [r for r in logs.records if r.message == "vonage reported an error"]
    assert record.levelname == "WARNING"
    assert record.__dict__["reason"] == report["reason"]


@pytest.mark.parametrize("status", ["unanswered", "timeout", "rejected"])
def test_other_open_failures_reconnect(client: TestClient, status: str) -> None:
    """A socket that could not be opened for any documented reason is reconnected."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    (reconnect,) = post_json(client, EVENTS, socket_event(connect, status)).json()
    assert reconnect["endpoint"][0]["headers"]["attempt"] == 2


def test_reconnect_attempts_is_configurable() -> None:
    """RECONNECT_ATTEMPTS=1 answers the first failure with the apology."""
    settings = make_settings(reconnect_attempts=1, apology_text="Goodbye.")
    with TestClient(create_app(settings)) as client:
        connect = answer(client, ANSWER_PARAMS).json()[1]
        response = post_json(client, EVENTS, socket_event(connect, "failed"))
    assert response.json() == [{"action": "talk", "text": "Goodbye.", "language": "en-US"}]


def test_event_by_get_with_headers_as_text() -> None:
    """With WEBHOOKS_ALLOW_GET, an event sent by GET reconnects too, headers as JSON text."""
    with TestClient(create_app(make_settings(webhooks_allow_get=True))) as client:
        connect = answer(client, ANSWER_PARAMS).json()[1]
        event = socket_event(connect, "disconnected")
        event["headers"] = json.dumps(event["headers"], separators=(",", ":"))
        response = signed_get(client, EVENTS, event)
    assert response.status_code == 200
    assert response.json()[0]["endpoint"][0]["headers"]["attempt"] == 2


@pytest.mark.parametrize(
    "event",
    [
        {"uuid": CALL_UUID, "status": "started", "direction": "inbound"},
        {"uuid": CALL_UUID, "status": "ringing"},
        {"uuid": CALL_UUID, "status": "answered"},
        {"uuid": CALL_UUID, "status": "disconnected", "to": CALLED},
        {"uuid": CALL_UUID, "status": "completed", "duration": "42"},
        {"uuid": CALL_UUID, "status": "something-new", "extra": [1, 2]},
        {"uuid": CALL_UUID, "dtmf": {"digits": "1"}},
    ],
)
def test_other_events_carry_on(client: TestClient, event: dict[str, Any]) -> None:
    """Every other event gets 204 with no body: the call goes on undisturbed."""
    response = post_json(client, EVENTS, event)
    assert response.status_code == 204
    assert response.content == b""


def test_each_event_is_one_log_line(client: TestClient, logs: pytest.LogCaptureFixture) -> None:
    """An event logs one line with status, uuid, conversation uuid, direction, duration."""
    event = {
        "uuid": CALL_UUID,
        "conversation_uuid": "CON-9",
        "status": "completed",
        "direction": "inbound",
        "duration": "42",
        "from": "447700900001",
        "to": CALLED,
    }
    post_json(client, EVENTS, event)
    (record,) = logs.records
    assert record.getMessage() == "call event"
    fields = record.__dict__
    assert (fields["status"], fields["uuid"], fields["conversation_uuid"]) == (
        "completed",
        CALL_UUID,
        "CON-9",
    )
    assert (fields["direction"], fields["duration"], fields["reply"]) == (
        "inbound",
        "42",
        "carry_on",
    )


def test_socket_event_log_names_attempt(client: TestClient, logs: pytest.LogCaptureFixture) -> None:
    """A socket leg's event line names the call, the attempt and the reply."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    logs.clear()
    post_json(client, EVENTS, socket_event(connect, "disconnected"))
    (record,) = logs.records
    assert record.__dict__["call_uuid"] == CALL_UUID
    assert record.__dict__["attempt"] == 1
    assert record.__dict__["reply"] == "reconnect"


# --- signed webhooks --------------------------------------------------------------------


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


# --- bad input and limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        ("application/json", b'{"uuid": ', "malformed JSON"),
        ("application/json", b"\xff\xfe\xfd", "malformed JSON"),
        ("application/json", b"[1, 2]", "must be an object"),
        ("application/json", b"", "JSON body is required"),
        ("text/plain", b'{"uuid": "x"}', "Content-Type must be application/json"),
        ("application/x-www-form-urlencoded", b"uuid=x", "Content-Type must be application/json"),
        (None, b'{"uuid": "x"}', "Content-Type must be application/json"),
        ("application/json", b'{"to": "447700900000"}', "uuid is required"),
        ("application/json", b'{"uuid": 42}', "uuid must be a string"),
        ("application/json", b'{"uuid": "a b"}', "uuid must be a string"),
    ],
)
@pytest.mark.parametrize("path", [ANSWER, EVENTS])
def test_bad_requests_name_the_problem(
    client: TestClient, path: str, content_type: str | None, body: bytes, detail: str
) -> None:
    """Malformed JSON, wrong content type or a missing uuid is a 400 naming the problem."""
    headers = {"authorization": sign(body)}
    if content_type is not None:
        headers["content-type"] = content_type
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_deeply_nested_json_is_a_bad_request(client: TestClient) -> None:
    """JSON nested beyond the parser's depth is 400, not a crash."""
    body = b"[" * 32_000 + b"]" * 32_000
    headers = {"content-type": "application/json", "authorization": sign(body)}
    response = client.post(EVENTS, content=body, headers=headers)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["detail"]


def test_missing_uuid(client: TestClient) -> None:
    """An answer without uuid is 400 naming uuid."""
    response = answer(client, {"to": CALLED})
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "detail": "uuid is required"}


def test_body_at_the_limit_is_accepted(client: TestClient) -> None:
    """A body of exactly 64 KiB is read."""
    payload = {"uuid": CALL_UUID, "status": "answered", "pad": ""}
    payload["pad"] = "x" * (65_536 - len(json.dumps(payload)))
    assert len(json.dumps(payload)) == 65_536
    assert post_json(client, EVENTS, payload).status_code == 204


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    """A body over 64 KiB is 413, with or without a Content-Length."""
    body = b"x" * 65_537
    response = client.post(EVENTS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    chunks = iter([b"x" * 40_000, b"x" * 40_000])
    response = client.post(ANSWER, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_path_is_json_404(client: TestClient) -> None:
    """An unknown path is 404 with a JSON error."""
    response = client.get("/webhooks/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", ANSWER), ("PUT", EVENTS), ("POST", "/healthz")]
)
def test_wrong_method_is_json_405(client: TestClient, method: str, path: str) -> None:
    """A wrong method is 405 with Allow and a JSON error."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["error"] == "method_not_allowed"


def test_unexpected_error_is_503_not_500(
    monkeypatch: pytest.MonkeyPatch, settings: Any, logs: pytest.LogCaptureFixture
) -> None:
    """A bug in a handler is logged and answered 503 without detail, never 500."""

    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(NccoBuilder, "build_answer_ncco", broken)
    with TestClient(create_app(settings)) as client:
        response = answer(client, ANSWER_PARAMS)
        samples = metric_samples(client)
    assert response.status_code == 503
    assert response.json() == {"error": "internal_error", "detail": "unexpected error"}
    assert "secret internals" not in response.text
    assert any(r.getMessage() == "unexpected error" for r in logs.records)
    key = frozenset({("route", ANSWER), ("method", "POST"), ("status", "503")})
    assert samples[("webhooks_requests_total", key)] == 1


# --- operations -------------------------------------------------------------------------


def test_healthz_ok_when_started(client: TestClient) -> None:
    """/healthz is 200 {"status": "ok"} once the app has started."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_503_before_start(settings: Any) -> None:
    """/healthz is 503 while the app has not started (lifespan not run)."""
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503


def test_metrics_count_requests_events_and_replies(client: TestClient) -> None:
    """/metrics has requests by route and status, latency, events, reconnects, apologies."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    post_json(client, EVENTS, socket_event(connect, "failed"))
    post_json(client, EVENTS, {"uuid": CALL_UUID, "status": "wild-new-status"})
    client.get("/no/such/path")
    samples = metric_samples(client)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("webhooks_requests_total", route=ANSWER, method="POST", status="200") == 1
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="200") == 3
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="204") == 1
    assert value("webhooks_requests_total", route="other", method="GET", status="404") == 1
    assert value("webhooks_request_duration_seconds_count", route=ANSWER) == 1
    assert value("webhooks_events_total", status="failed") == 3
    assert value("webhooks_events_total", status="other") == 1
    assert value("webhooks_reconnects_total") == 2
    assert value("webhooks_apologies_total") == 1
