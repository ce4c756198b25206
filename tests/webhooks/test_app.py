"""Tests for webhooks.app through Starlette's TestClient: every rule of the webhooks."""

from __future__ import annotations

import json
import logging
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
    sign,
)
from webhooks.app import create_app
from webhooks.ncco import NccoBuilder

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


def get_answer(client: TestClient, params: dict[str, str], **headers: str) -> httpx.Response:
    """A signed GET of the answer URL, as Vonage sends it by default (§1)."""
    response: httpx.Response = client.get(
        ANSWER, params=params, headers={"authorization": sign(), **headers}
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


def test_answer_get_returns_greeting_and_connect(client: TestClient) -> None:
    """A signed GET answer returns talk, then a synchronous connect to our socket."""
    response = get_answer(client, ANSWER_PARAMS)
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
    assert endpoint["headers"] == {"call_uuid": CALL_UUID, "attempt": 1}
    assert endpoint["authorization"]["type"] == "custom"


def test_answer_post_json(client: TestClient) -> None:
    """A POST answer with a JSON body (answer_method POST) gets the same NCCO."""
    headers = {"content-type": "application/json; charset=utf-8"}
    response = post_json(client, ANSWER, ANSWER_PARAMS, headers)
    assert response.status_code == 200
    assert response.json()[1]["endpoint"][0]["headers"]["call_uuid"] == CALL_UUID


def test_answer_credential_names_the_call(client: TestClient) -> None:
    """The endpoint carries a valid HS256 credential whose sub is the call uuid."""
    claims = credential_claims(get_answer(client, ANSWER_PARAMS).json()[1])
    assert claims["sub"] == CALL_UUID
    assert claims["iss"] == "webhooks"
    assert 0 < claims["exp"] - claims["iat"] <= 300


def test_answer_without_e164_to_uses_random_number(client: TestClient) -> None:
    """A `to` that is not an E.164 number gives randomFromNumber instead of `from`."""
    connect = get_answer(client, {**ANSWER_PARAMS, "to": "NexmoTest"}).json()[1]
    assert "from" not in connect
    assert connect["randomFromNumber"] is True


def test_answer_accepts_unknown_parameters(client: TestClient) -> None:
    """Newer parameters Vonage may add are accepted and ignored (§1)."""
    params = {**ANSWER_PARAMS, "region_url": "https://api-eu.vonage.com", "SipHeader_X": "1"}
    assert get_answer(client, params).status_code == 200


def test_hostile_host_headers_do_not_change_urls(client: TestClient) -> None:
    """Host and X-Forwarded-* headers never change a URL in the NCCO."""
    connect = get_answer(client, ANSWER_PARAMS, **HOSTILE_HEADERS).json()[1]
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
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
    assert [r.getMessage() for r in logs.records] == ["call answered"]
    assert logs.records[0].__dict__["uuid"] == CALL_UUID
    token = connect["endpoint"][0]["authorization"]["value"].removeprefix("Bearer ")
    assert token not in logs.text


# --- /webhooks/events -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["disconnected", "failed"])
def test_reconnect_chain_then_apology(client: TestClient, status: str) -> None:
    """Attempt 1 → 2 → 3 → apology, each reconnect with a fresh credential for the call."""
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
    seen_jti = {credential_claims(connect)["jti"]}
    for attempt in (2, 3):
        response = post_json(client, EVENTS, socket_event(connect, status, f"leg-{attempt}"))
        assert response.status_code == 200
        (connect,) = response.json()
        assert connect["action"] == "connect"
        assert connect["eventType"] == "synchronous"
        assert connect["from"] == CALLED
        assert connect["endpoint"][0]["headers"] == {"call_uuid": CALL_UUID, "attempt": attempt}
        claims = credential_claims(connect)
        assert claims["sub"] == CALL_UUID
        assert claims["jti"] not in seen_jti
        seen_jti.add(claims["jti"])
    response = post_json(client, EVENTS, socket_event(connect, status, "leg-4"))
    assert response.status_code == 200
    assert response.json() == [
        {"action": "talk", "text": make_settings().apology_text, "language": "en-US"}
    ]


@pytest.mark.parametrize("status", ["unanswered", "timeout", "rejected"])
def test_other_open_failures_reconnect(client: TestClient, status: str) -> None:
    """A socket that could not be opened for any documented reason is reconnected."""
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
    (reconnect,) = post_json(client, EVENTS, socket_event(connect, status)).json()
    assert reconnect["endpoint"][0]["headers"]["attempt"] == 2


def test_reconnect_attempts_is_configurable() -> None:
    """RECONNECT_ATTEMPTS=1 answers the first failure with the apology."""
    settings = make_settings(reconnect_attempts=1, apology_text="Goodbye.")
    with TestClient(create_app(settings)) as client:
        connect = get_answer(client, ANSWER_PARAMS).json()[1]
        response = post_json(client, EVENTS, socket_event(connect, "failed"))
    assert response.json() == [{"action": "talk", "text": "Goodbye.", "language": "en-US"}]


def test_event_by_get_with_headers_as_text(client: TestClient) -> None:
    """An event sent by GET (event_method GET) reconnects too, its headers as JSON text."""
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
    event = socket_event(connect, "disconnected")
    event["headers"] = json.dumps(event["headers"])
    response = client.get(EVENTS, params=event, headers={"authorization": sign()})
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
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
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
    headers = {} if authorization is None else {"authorization": authorization}
    response = client.get(path, params=ANSWER_PARAMS | {"status": "failed"}, headers=headers)
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


def test_missing_uuid_on_get(client: TestClient) -> None:
    """A GET answer without uuid is 400 naming uuid."""
    response = get_answer(client, {"to": CALLED})
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
        response = get_answer(client, ANSWER_PARAMS)
        samples = metric_samples(client)
    assert response.status_code == 503
    assert response.json() == {"error": "internal_error", "detail": "unexpected error"}
    assert "secret internals" not in response.text
    assert any(r.getMessage() == "unexpected error" for r in logs.records)
    key = frozenset({("route", ANSWER), ("method", "GET"), ("status", "503")})
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
    connect = get_answer(client, ANSWER_PARAMS).json()[1]
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    post_json(client, EVENTS, socket_event(connect, "failed"))
    post_json(client, EVENTS, {"uuid": CALL_UUID, "status": "wild-new-status"})
    client.get("/no/such/path")
    samples = metric_samples(client)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("webhooks_requests_total", route=ANSWER, method="GET", status="200") == 1
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="200") == 3
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="204") == 1
    assert value("webhooks_requests_total", route="other", method="GET", status="404") == 1
    assert value("webhooks_request_duration_seconds_count", route=ANSWER) == 1
    assert value("webhooks_events_total", status="failed") == 3
    assert value("webhooks_events_total", status="other") == 1
    assert value("webhooks_reconnects_total") == 2
    assert value("webhooks_apologies_total") == 1
