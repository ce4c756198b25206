"""The webhooks' side of call events: what Vonage posts, and the answer, with no I/O.

The websocket leg's events carry back the endpoint ``headers`` we put in the NCCO
(docs/vonage-protocol.md §2, §4), so the attempt count travels with the call itself.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhooks.call_fields import CallFields
from webhooks.errors import BadRequest
from webhooks.payloads import require_uuid

__all__ = [
    "RETRY_STATUSES",
    "CallEvent",
    "CallStatus",
    "ErrorReport",
    "Reply",
    "SocketLeg",
    "parse_error_report",
    "parse_event",
    "plan_reply",
]


class CallStatus(enum.StrEnum):
    """The statuses Vonage documents (docs/vonage-protocol.md §5); others are accepted too."""

    STARTED = "started"
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    CANCELLED = "cancelled"
    UNANSWERED = "unanswered"
    DISCONNECTED = "disconnected"
    REJECTED = "rejected"
    FAILED = "failed"
    HUMAN = "human"
    MACHINE = "machine"
    TIMEOUT = "timeout"
    COMPLETED = "completed"


# §4: `disconnected` is a socket closed under the call; the others mean it could not be
# opened (a replica lost, full or draining). Each is worth another connect.
RETRY_STATUSES = frozenset(
    {
        CallStatus.DISCONNECTED,
        CallStatus.FAILED,
        CallStatus.UNANSWERED,
        CallStatus.TIMEOUT,
        CallStatus.REJECTED,
    }
)


# Far above any RECONNECT_ATTEMPTS; a larger count is not one we wrote.
_MAX_ATTEMPT = 1000


class Reply(enum.Enum):
    """What the events webhook answers."""

    CARRY_ON = "carry_on"  # 2xx, no NCCO: the call goes on undisturbed
    RECONNECT = "reconnect"
    APOLOGY = "apology"


@dataclass(frozen=True, slots=True)
class SocketLeg:
    """Our websocket leg, identified by the headers Vonage echoed back."""

    call_uuid: str
    attempt: int
    #: The call's fields from those headers, carried into the reconnect's (call_fields.py).
    fields: CallFields | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """The parts of an event the service logs or acts on."""

    uuid: str
    status: str | None
    conversation_uuid: str | None
    direction: str | None
    duration: str | None
    caller: object
    socket_leg: SocketLeg | None


def parse_event(params: Mapping[str, Any], socket_uri: str) -> CallEvent:
    """Read an event's fields; ``BadRequest`` only when the ``uuid`` is missing or bad."""
    return CallEvent(
        uuid=require_uuid(params),
        status=_text(params.get("status")),
        conversation_uuid=_text(params.get("conversation_uuid")),
        direction=_text(params.get("direction")),
        duration=_text(params.get("duration")),
        caller=params.get("from"),
        socket_leg=_socket_leg(params, socket_uri),
    )


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """Vonage's report of an NCCO it could not run (§5): a reason, no leg, no status."""

    reason: str | None
    conversation_uuid: str | None


def parse_error_report(params: Mapping[str, Any]) -> ErrorReport | None:
    """The error report these fields are, or None when they are an ordinary event."""
    if "reason" not in params or "status" in params or "uuid" in params:
        return None
    return ErrorReport(
        reason=_text(params.get("reason"), limit=200),
        conversation_uuid=_text(params.get("conversation_uuid")),
    )


def plan_reply(event: CallEvent, max_attempts: int) -> Reply:
    """Reconnect a failed socket leg while attempts remain, then apologise; else carry on."""
    if event.socket_leg is None or event.status not in RETRY_STATUSES:
        return Reply.CARRY_ON
    if event.socket_leg.attempt < max_attempts:
        return Reply.RECONNECT
    return Reply.APOLOGY


def _socket_leg(params: Mapping[str, Any], socket_uri: str) -> SocketLeg | None:
    if params.get("to") != socket_uri:
        return None
    headers = params.get("headers")
    if isinstance(headers, str):  # an event sent by GET carries the object as text
        headers = _json_object(headers)
    if not isinstance(headers, dict):
        return None
    try:
        call_uuid = require_uuid({"uuid": headers.get("call_uuid")})
    except BadRequest:
        return None
    attempt = _attempt(headers.get("attempt"))
    if attempt is None:
        return None
    return SocketLeg(call_uuid, attempt, CallFields.from_headers(headers))


def _attempt(value: object) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_ATTEMPT:
        return None
    return value


def _json_object(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _text(value: object, limit: int = 64) -> str | None:
    """A field as a short string for logs: hostile input cannot bloat a log line."""
    if value is None:
        return None
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float):  # bool included: it is logged as what it is
        return str(value)[:limit]
    return f"<{type(value).__name__}>"
