"""The events route: reconnects after a lost socket, the apology, one log line each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    TestClient,
    make_settings,
)
from tests.webhooks.helpers import (
    ANSWER_PARAMS,
    EVENTS,
    answer,
    credential_claims,
    post_json,
    signed_get,
    socket_event,
)
from webhooks.app import create_app


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
