"""What the handler knows of its call, carried in the NCCO endpoint ``headers``.

Vonage copies the endpoint ``headers`` to the top level of the socket's first
message and echoes them back in events about the leg (docs/vonage-protocol.md §2, §4),
so the call's fields reach the audio service and survive every reconnect with no
state here. The object is at most 512 bytes serialised (§2); each field has a cap
that keeps the worst case inside it (``tests/webhooks/test_call_fields.py``):

========================  ==========================================  =========
key                       what                                         at most
========================  ==========================================  =========
``call_uuid``             the answer request's ``uuid`` (the call)     128 chars
``attempt``               1 on the answer, +1 per reconnect            1000
``conversation_uuid``     the answer's ``conversation_uuid``           128 chars
``from``, ``to``          the answer's ``from`` and ``to``             64 chars
``direction``             ``inbound``, or ``outbound`` (dialled)
``region``                the Vonage API host of ``region_url``        20 chars
``metadata``              ``ANSWER_METADATA``'s object, compact JSON   128 bytes
========================  ==========================================  =========

A field longer than its cap, or with characters JSON would have to escape, is left
out (the handler sees None); so is metadata over its budget, with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from app_credentials import is_vonage_api_host
from webhooks.errors import BadRequest
from webhooks.payloads import require_uuid

__all__ = [
    "MAX_HEADERS_BYTES",
    "METADATA_BYTES",
    "CallFields",
    "Direction",
    "compact_json",
    "region_host",
]

#: docs/vonage-protocol.md §2: the endpoint ``headers`` are at most 512 bytes serialised.
MAX_HEADERS_BYTES: Final = 511
#: ANSWER_METADATA's budget: its object as compact JSON.
METADATA_BYTES: Final = 128
MAX_UUID_CHARS: Final = 128
MAX_ADDRESS_CHARS: Final = 64
_MAX_ATTEMPT: Final = 1000
#: Printable ASCII that JSON writes as itself: no quote, no backslash, no escapes.
_PLAIN: Final = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")
_UUID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Direction = Literal["inbound", "outbound"]


def compact_json(value: object) -> str:
    """The serialisation Vonage's size limit is measured on."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def region_host(region_url: object) -> str | None:
    """The host of ``region_url`` when it is one of Vonage's API hosts over HTTPS."""
    if not isinstance(region_url, str) or len(region_url) > 100:
        return None
    try:
        parts = urlsplit(region_url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    plain = not (parts.username or parts.password or port or parts.query or parts.fragment)
    if parts.scheme != "https" or parts.path not in ("", "/") or not plain:
        return None
    return host if is_vonage_api_host(host) else None


def _plain(value: object, limit: int) -> str | None:
    if isinstance(value, str) and len(value) <= limit and _PLAIN.fullmatch(value):
        return value
    return None


def _direction(value: object) -> Direction | None:
    if value == "inbound":
        return "inbound"
    if value == "outbound":
        return "outbound"
    return None


def _uuid(value: object) -> str | None:
    return value if isinstance(value, str) and _UUID.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class CallFields:
    """The call's fields that travel in the endpoint headers."""

    call_uuid: str
    conversation_uuid: str | None = None
    caller: str | None = None
    called: str | None = None
    direction: Direction | None = None
    region: str | None = None
    metadata: Mapping[str, Any] | None = None

    @classmethod
    def from_answer(cls, params: Mapping[str, Any], direction: Direction = "inbound") -> CallFields:
        """From the answer request (§1); BadRequest only for a missing or bad ``uuid``."""
        return cls(
            call_uuid=require_uuid(params),
            conversation_uuid=_uuid(params.get("conversation_uuid")),
            caller=_plain(params.get("from"), MAX_ADDRESS_CHARS),
            called=_plain(params.get("to"), MAX_ADDRESS_CHARS),
            direction=direction,
            region=region_host(params.get("region_url")),
        )

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> CallFields | None:
        """From the headers Vonage echoed in an event; None if they are not ours."""
        call_uuid = _uuid(headers.get("call_uuid"))
        if call_uuid is None:
            return None
        region = headers.get("region")
        if not isinstance(region, str) or not is_vonage_api_host(region):
            region = None
        metadata = headers.get("metadata")
        if not isinstance(metadata, dict) or len(compact_json(metadata)) > METADATA_BYTES:
            metadata = None
        return cls(
            call_uuid=call_uuid,
            conversation_uuid=_uuid(headers.get("conversation_uuid")),
            caller=_plain(headers.get("from"), MAX_ADDRESS_CHARS),
            called=_plain(headers.get("to"), MAX_ADDRESS_CHARS),
            direction=_direction(headers.get("direction")),
            region=region,
            metadata=metadata,
        )

    def headers(self, attempt: int) -> dict[str, Any]:
        """The endpoint ``headers`` for connect attempt ``attempt``, within 511 bytes."""
        if not 1 <= attempt <= _MAX_ATTEMPT:
            raise ValueError(f"attempt must be 1 to {_MAX_ATTEMPT}")
        headers: dict[str, Any] = {"call_uuid": self.call_uuid, "attempt": attempt}
        optional = {
            "conversation_uuid": self.conversation_uuid,
            "from": self.caller,
            "to": self.called,
            "direction": self.direction,
            "region": self.region,
        }
        headers.update({k: v for k, v in optional.items() if v is not None})
        if self.metadata is not None:
            headers["metadata"] = dict(self.metadata)
            if len(compact_json(headers).encode()) > MAX_HEADERS_BYTES:
                del headers["metadata"]  # only with fields far longer than Vonage's
        if len(compact_json(headers).encode()) > MAX_HEADERS_BYTES:  # pragma: no cover
            raise BadRequest("the call's fields do not fit the websocket endpoint headers")
        return headers
