"""The Vonage WebSocket audio protocol as plain data and functions.

Facts from ``docs/vonage-protocol.md`` §3: the first message is a text JSON object
``{"event": "websocket:connected", "content-type": "audio/l16;rate=N", ...}``
carrying the NCCO endpoint ``headers`` at its top level; after it, binary
messages are 20 ms frames of 16-bit linear PCM and text messages are JSON events.

Nothing here does I/O: no sockets, no asyncio, no websockets. Tests feed it
messages; the server feeds it what it receives.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from audio_socket.errors import (
    FirstMessageTooBig,
    InvalidPayload,
    PolicyViolation,
    UnsupportedData,
)

CONNECTED: Final = "websocket:connected"
DTMF: Final = "websocket:dtmf"
CLEARED: Final = "websocket:cleared"
NOTIFY: Final = "websocket:notify"

#: NCCO endpoint headers are at most 512 bytes serialised (§2); the first
#: message needs far less than this, so more is not Vonage talking.
FIRST_MESSAGE_MAX_BYTES: Final = 4096
FRAME_MS: Final = 20
BYTES_PER_SAMPLE: Final = 2
#: 8000 and 16000 are documented; 24000 is accepted by the current SDKs (§2).
SUPPORTED_RATES: Final = (8000, 16000, 24000)

CLEAR_MESSAGE: Final = '{"action":"clear"}'

_DIGITS: Final = re.compile(r"[0-9*#A-Da-d]")


def frame_bytes(sample_rate: int) -> int:
    """Bytes in one 20 ms frame of mono 16-bit PCM at ``sample_rate`` (§3 table)."""
    return sample_rate * FRAME_MS // 1000 * BYTES_PER_SAMPLE


@dataclass(frozen=True, slots=True)
class CallStart:
    """What the first message says about the call."""

    content_type: str
    sample_rate: int
    frame_bytes: int
    #: The NCCO endpoint ``headers`` Vonage copied to the top level, as sent.
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def call_uuid(self) -> str | None:
        """The ``call_uuid`` header (docs/contract.md), if it is a string."""
        value = self.metadata.get("call_uuid")
        return value if isinstance(value, str) else None

    # What the answer webhook put in the headers (webhooks/call_fields.py); None when
    # absent. The metadata came from the socket's opener, like every header: use it to
    # tailor the call, never to authorise anything.

    @property
    def caller(self) -> str | None:
        """The answer's ``from``: who called (inbound), or our number (dialled)."""
        return self._text("from")

    @property
    def called(self) -> str | None:
        """The answer's ``to``: our number (inbound), or who we dialled."""
        return self._text("to")

    @property
    def direction(self) -> str | None:
        """``inbound``, or ``outbound`` for a call placed by ``python -m webhooks dial``."""
        return self._text("direction")

    @property
    def conversation_uuid(self) -> str | None:
        """The answer's ``conversation_uuid``."""
        return self._text("conversation_uuid")

    @property
    def custom(self) -> Mapping[str, Any]:
        """ANSWER_METADATA's object for this call (empty without one)."""
        value = self.metadata.get("metadata")
        return value if isinstance(value, dict) else {}

    @property
    def resumed(self) -> bool:
        """True on a reconnected leg (attempt 2 or more): the caller was greeted already."""
        attempt = self.attempt
        return attempt is not None and attempt > 1

    def _text(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    @property
    def attempt(self) -> int | None:
        """The ``attempt`` header: 1 on the answer NCCO, +1 per reconnect."""
        value = self.metadata.get("attempt")
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdecimal():
            return int(value)
        return None


def parse_content_type(value: str) -> int:
    """Return the sample rate of an ``audio/l16;rate=N`` content type.

    Raises:
        UnsupportedData: Another format, or a rate this service does not serve.
    """
    media_type, *params = (part.strip() for part in value.split(";"))
    if media_type.lower() != "audio/l16":
        raise UnsupportedData("unsupported content-type")
    rates = [p.partition("=")[2].strip() for p in params if p.lower().startswith("rate=")]
    if len(rates) != 1 or not rates[0].isdecimal() or int(rates[0]) not in SUPPORTED_RATES:
        raise UnsupportedData("unsupported sample rate")
    return int(rates[0])


def parse_first_message(message: str | bytes) -> CallStart:
    """Parse the ``websocket:connected`` message that opens every call.

    Raises:
        UnsupportedData: Binary, or an audio format this service cannot handle.
        FirstMessageTooBig: Over ``FIRST_MESSAGE_MAX_BYTES``.
        InvalidPayload: Not a JSON object.
        PolicyViolation: Not ``websocket:connected``, or no ``content-type``.
    """
    if not isinstance(message, str):
        raise UnsupportedData("expected websocket:connected text message")
    if len(message.encode()) > FIRST_MESSAGE_MAX_BYTES:
        raise FirstMessageTooBig("first message too big")
    try:
        data = json.loads(message)
    except ValueError:
        raise InvalidPayload("first message is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidPayload("first message is not a JSON object")
    if data.get("event") != CONNECTED:
        raise PolicyViolation("expected websocket:connected")
    content_type = data.get("content-type")
    if not isinstance(content_type, str):
        raise PolicyViolation("missing content-type")
    rate = parse_content_type(content_type)
    # Interned keys: every call's metadata has the same few, hundreds of calls long.
    metadata = {sys.intern(k): v for k, v in data.items() if k not in ("event", "content-type")}
    return CallStart(content_type, rate, frame_bytes(rate), metadata)


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key press (§3), in the documented flat form or pipecat's nested one."""

    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Cleared:
    """Vonage dropped the audio it had buffered, answering ``{"action":"clear"}``."""


@dataclass(frozen=True, slots=True)
class Notified:
    """All audio sent before a ``notify`` action has played; its payload comes back."""

    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A text message this service does not understand; §3 says ignore it."""

    name: str | None


CallEvent = Dtmf | Cleared | Notified | UnknownEvent


def parse_event(message: str) -> CallEvent:
    """Classify a text message received after the first one. Never raises."""
    try:
        data = json.loads(message)
    except ValueError:
        return UnknownEvent(None)
    if not isinstance(data, dict):
        return UnknownEvent(None)
    name = data.get("event")
    if name == DTMF or (name is None and isinstance(data.get("dtmf"), dict)):
        return _parse_dtmf(data)
    if name == CLEARED:
        return Cleared()
    if name == NOTIFY:
        payload = data.get("payload")
        return Notified(payload if isinstance(payload, dict) else {})
    return UnknownEvent(name if isinstance(name, str) else None)


def _parse_dtmf(data: Mapping[str, Any]) -> CallEvent:
    nested = data.get("dtmf")
    source: Mapping[str, Any] = nested if isinstance(nested, dict) else data
    digit = source.get("digit")
    if isinstance(digit, int) and not isinstance(digit, bool):
        digit = str(digit)
    if not isinstance(digit, str) or not _DIGITS.fullmatch(digit):
        return UnknownEvent(DTMF)
    duration = source.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int):
        duration = None
    return Dtmf(digit, duration)


def build_notify(payload: Mapping[str, Any]) -> str:
    """The ``notify`` action: Vonage answers ``websocket:notify`` with ``payload``
    once all audio sent before it has played (§3, from pipecat's serializer)."""
    return json.dumps({"action": "notify", "payload": payload}, separators=(",", ":"))
