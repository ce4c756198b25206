"""Tests for webhooks.events: recognising our socket leg and choosing the reply."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.webhooks.conftest import CALL_UUID, SOCKET_URI
from webhooks.errors import BadRequest
from webhooks.events import CallEvent, Reply, SocketLeg, parse_event, plan_reply


def _socket_event(status: str | None = "disconnected", **fields: Any) -> dict[str, Any]:
    """An event about our websocket leg, shaped as in docs/vonage-protocol.md §4."""
    event: dict[str, Any] = {
        "from": "447700900000",
        "to": SOCKET_URI,
        "uuid": "leg-7c0f0e0a",
        "conversation_uuid": "CON-1f2e3d4c",
        "status": status,
        "direction": "outbound",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "headers": {"call_uuid": CALL_UUID, "attempt": 1},
    }
    event.update(fields)
    return event


def _parse(params: dict[str, Any]) -> CallEvent:
    return parse_event(params, SOCKET_URI)


def test_socket_leg_is_recognised() -> None:
    """An event to our socket URI with our headers is our websocket leg."""
    event = _parse(_socket_event())
    assert event.socket_leg == SocketLeg(CALL_UUID, 1)
    assert event.uuid == "leg-7c0f0e0a"
    assert event.status == "disconnected"


def test_headers_as_json_text_are_read() -> None:
    """An event sent by GET carries the headers object as JSON text."""
    headers = json.dumps({"call_uuid": CALL_UUID, "attempt": "2"})
    event = _parse(_socket_event(headers=headers))
    assert event.socket_leg == SocketLeg(CALL_UUID, 2)


@pytest.mark.parametrize(
    "fields",
    [
        {"to": "wss://elsewhere.example.com/socket"},
        {"to": "447700900001"},
        {"headers": None},
        {"headers": "not json"},
        {"headers": []},
        {"headers": {"attempt": 1}},
        {"headers": {"call_uuid": CALL_UUID}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": 0}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": -1}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": True}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": 1.5}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": "99999999999"}},
        {"headers": {"call_uuid": CALL_UUID, "attempt": 10**400}},
        {"headers": {"call_uuid": "", "attempt": 1}},
        {"headers": {"call_uuid": "x" * 200, "attempt": 1}},
    ],
)
def test_other_legs_are_not_ours(fields: dict[str, Any]) -> None:
    """Another destination, or headers that are not ours, is not our socket leg."""
    assert _parse(_socket_event(**fields)).socket_leg is None


def test_missing_uuid_is_a_bad_request() -> None:
    """An event without uuid is refused."""
    params = _socket_event()
    del params["uuid"]
    with pytest.raises(BadRequest, match="uuid is required"):
        _parse(params)


def test_unknown_fields_and_statuses_are_accepted() -> None:
    """Unknown fields are ignored and unknown statuses kept as text (§5)."""
    event = _parse({"uuid": "u1", "status": "brand-new", "surprise": {"x": [1]}})
    assert event.status == "brand-new"
    assert event.socket_leg is None


def test_logged_fields_are_bounded() -> None:
    """Hostile field values are cut short or replaced by their type for the log."""
    event = _parse({"uuid": "u1", "status": "s" * 1000, "direction": {"a": 1}, "duration": 5})
    assert event.status == "s" * 64
    assert event.direction == "<dict>"
    assert event.duration == "5"


@pytest.mark.parametrize("status", ["disconnected", "failed", "unanswered", "timeout", "rejected"])
@pytest.mark.parametrize(
    ("attempt", "reply"), [(1, Reply.RECONNECT), (2, Reply.RECONNECT), (3, Reply.APOLOGY)]
)
def test_socket_failures_reconnect_then_apologise(status: str, attempt: int, reply: Reply) -> None:
    """A lost or unopened socket reconnects while attempt < max, then apologises."""
    event = _parse(_socket_event(status, headers={"call_uuid": CALL_UUID, "attempt": attempt}))
    assert plan_reply(event, max_attempts=3) is reply


@pytest.mark.parametrize(
    "status", ["started", "ringing", "answered", "completed", "busy", "human", "x", None]
)
def test_other_socket_statuses_carry_on(status: str | None) -> None:
    """Any other status of the socket leg leaves the call undisturbed."""
    assert plan_reply(_parse(_socket_event(status)), max_attempts=3) is Reply.CARRY_ON


def test_failures_of_other_legs_carry_on() -> None:
    """`disconnected` on a leg that is not our socket asks for nothing."""
    event = _parse(_socket_event("disconnected", to="447700900001"))
    assert plan_reply(event, max_attempts=3) is Reply.CARRY_ON


def test_single_attempt_apologises_at_once() -> None:
    """With RECONNECT_ATTEMPTS=1 the first failure is answered with the apology."""
    assert plan_reply(_parse(_socket_event("failed")), max_attempts=1) is Reply.APOLOGY
