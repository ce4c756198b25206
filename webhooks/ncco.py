"""The application's side of NCCOs: built with Vonage's own models (vonage-voice).

The talk actions never change, so they are validated and serialised once; only the
``connect`` action, which carries the call's credential, is built per request
(docs/vonage-protocol.md §2, §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# vonage-voice ships no py.typed marker; its models are pydantic, validated at run time.
from vonage_voice.models.common import WebsocketAuthorization  # type: ignore[import-untyped]
from vonage_voice.models.connect_endpoints import (  # type: ignore[import-untyped]
    WebsocketEndpoint,
)
from vonage_voice.models.ncco import Connect, Talk  # type: ignore[import-untyped]

from webhooks.call_fields import MAX_HEADERS_BYTES, MAX_UUID_CHARS, CallFields
from webhooks.errors import BadRequest
from webhooks.settings import ContentType, Settings

__all__ = [
    "MAX_HEADERS_BYTES",
    "SPEECH_WORDS_PER_MINUTE",
    "Action",
    "NccoBuilder",
    "caller_id",
    "endpoint_headers",
    "speech_seconds",
]

Action = dict[str, Any]

# docs/vonage-protocol.md §2: `from` is digits only, the Python SDK's PhoneNumber pattern.
_E164_RE = re.compile(r"[1-9]\d{6,14}")
# Vonage publishes no speaking rate; voices at their default rate speak ~150 words a
# minute. A slow rate overestimates the greeting, so a credential outlives it. SSML tags
# are not spoken; a <break time="..."> adds its pause.
SPEECH_WORDS_PER_MINUTE = 100
_SPEECH_LEAD_SECONDS = 1.0
_SSML_TAG = re.compile(r"<[^>]*>")
_SSML_BREAK = re.compile(r"""<break\b[^>]*\btime\s*=\s*["']?(\d+(?:\.\d+)?)\s*(ms|s)["']?""", re.I)
_WORD = re.compile(r"\w+")


def speech_seconds(text: str) -> float:
    """A generous estimate of how long Vonage takes to speak ``text``."""
    pauses = sum(
        float(amount) / (1000 if unit.lower() == "ms" else 1)
        for amount, unit in _SSML_BREAK.findall(text)
    )
    words = len(_WORD.findall(_SSML_TAG.sub(" ", text)))
    return _SPEECH_LEAD_SECONDS + words * 60 / SPEECH_WORDS_PER_MINUTE + pauses


def caller_id(number: object) -> str | None:
    """``number`` as a ``from`` Vonage accepts (digits, no ``+``), or None if it is not one."""
    if not isinstance(number, str):
        return None
    digits = number.removeprefix("+")
    return digits if _E164_RE.fullmatch(digits) else None


def endpoint_headers(call_uuid: str, attempt: int) -> dict[str, Any]:
    """The endpoint ``headers`` of a call known by its uuid only (docs/contract.md)."""
    if len(call_uuid) > MAX_UUID_CHARS:
        raise BadRequest("uuid is too long for the websocket endpoint headers")
    return CallFields(call_uuid).headers(attempt)


def _dump(action: Any) -> Action:
    dumped: Action = action.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


@dataclass(frozen=True, slots=True)
class NccoBuilder:
    """Builds the service's three NCCOs; the talk actions are shared, never mutated."""

    socket_uri: str
    events_url: str
    content_type: ContentType
    greeting: Action
    apology: Action
    #: How long the greeting plays before Vonage opens the socket (estimated).
    greeting_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> NccoBuilder:
        """Validate the static parts once, at start-up."""
        language = settings.greeting_language
        return cls(
            socket_uri=settings.socket_uri,
            events_url=settings.events_url,
            content_type=settings.content_type,
            greeting=_dump(Talk(text=settings.greeting_text, language=language)),
            apology=_dump(Talk(text=settings.apology_text, language=language)),
            greeting_seconds=speech_seconds(settings.greeting_text),
        )

    def build_answer_ncco(
        self, call: CallFields | str, ours: object, credential: str
    ) -> list[Action]:
        """Greeting, then connect to the socket as attempt 1, ``from`` our number ``ours``
        (the called number of an inbound call, the caller id of one we dialled)."""
        fields = call if isinstance(call, CallFields) else CallFields(call)
        return [self.greeting, self.build_connect(fields, 1, caller_id(ours), credential)]

    def build_reconnect_ncco(
        self, call: CallFields | str, attempt: int, caller: object, credential: str
    ) -> list[Action]:
        """Connect again (docs/vonage-protocol.md §4): replaces the rest of the call's NCCO."""
        fields = call if isinstance(call, CallFields) else CallFields(call)
        return [self.build_connect(fields, attempt, caller_id(caller), credential)]

    def build_apology_ncco(self) -> list[Action]:
        """The apology spoken once the reconnect attempts are used up."""
        return [self.apology]

    def build_connect(
        self, call: CallFields, attempt: int, caller: str | None, credential: str
    ) -> Action:
        """One synchronous ``connect`` to the websocket endpoint with a fresh credential."""
        endpoint = WebsocketEndpoint(
            uri=self.socket_uri,
            contentType=self.content_type,
            headers=call.headers(attempt),
            authorization=WebsocketAuthorization(type="custom", value=f"Bearer {credential}"),
        )
        # `synchronous` makes Vonage post this leg's events to eventUrl and run the NCCO
        # it gets back (§2, §4): that is how a lost socket becomes a reconnect.
        connect = Connect(
            endpoint=[endpoint],
            from_=caller,
            randomFromNumber=None if caller else True,
            eventType="synchronous",
            eventUrl=[self.events_url],
        )
        return _dump(connect)
