"""The simulator's side: an NCCO parsed the way Vonage runs it (docs/vonage-protocol.md §2).

The simulator runs ``talk`` and ``connect`` to one ``websocket`` endpoint. The
whole NCCO is checked before any of it runs, as Vonage does: an NCCO it cannot
run is a :exc:`NccoError` naming the action and the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from simulator.errors import NccoError

CONTENT_TYPES = {
    "audio/l16;rate=8000": 8000,
    "audio/l16;rate=16000": 16000,
    "audio/l16;rate=24000": 24000,
}
MAX_HEADERS_BYTES = 512
MAX_AUTHORIZATION_CHARS = 8191
MAX_LIMIT_SECONDS = 7200
MAX_TALK_CHARS = 1500  # vonage-voice's Talk model
DEFAULT_CONNECT_TIMEOUT = 60  # seconds the endpoint may take to answer (NCCO reference)
# The Python SDK's rule for `from` (docs/vonage-protocol.md §2).
E164 = re.compile(r"^[1-9]\d{6,14}$")
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
# Actions Vonage knows and the simulator does not run: named in the error.
KNOWN_ACTIONS = {"record", "conversation", "stream", "input", "notify", "wait", "transfer"}


@dataclass(frozen=True)
class Talk:
    """Speak ``text`` to the caller, ``loop`` times; ``barge_in``: do not hold the next action."""

    text: str
    language: str | None = None
    barge_in: bool = False
    loop: int = 1


@dataclass(frozen=True)
class Authorization:
    """How the upgrade request is authorised: ``custom`` (value sent verbatim) or ``vonage``."""

    type: str
    value: str | None = None


@dataclass(frozen=True)
class WebsocketEndpoint:
    """The socket a ``connect`` opens."""

    uri: str
    content_type: str
    headers: dict[str, Any] = field(default_factory=dict)
    authorization: Authorization | None = None

    @property
    def rate(self) -> int:
        """Sample rate named by the content type."""
        return CONTENT_TYPES[self.content_type]


@dataclass(frozen=True)
class Connect:
    """Connect the call to a WebSocket endpoint."""

    endpoint: WebsocketEndpoint
    event_url: str | None = None
    event_method: str = "POST"
    synchronous: bool = False
    from_number: str | None = None
    timeout: float = DEFAULT_CONNECT_TIMEOUT


Action = Talk | Connect


def parse_ncco_json(body: bytes) -> list[Action]:
    """Parse an NCCO from the bytes of a webhook response."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NccoError(f"NCCO is not JSON: {exc}") from exc
    return parse_ncco(value)


def parse_ncco(value: object) -> list[Action]:
    """Check a whole NCCO (a JSON array of actions) and return its actions."""
    if not isinstance(value, list):
        raise NccoError(f"NCCO must be a JSON array of actions, not {_kind(value)}")
    return [_parse_action(i, item) for i, item in enumerate(value)]


def _parse_action(i: int, item: object) -> Action:
    if not isinstance(item, dict) or not isinstance(item.get("action"), str):
        raise NccoError(f"NCCO action {i}: must be an object with an 'action' string")
    name = item["action"]
    where = f"NCCO action {i} ({name})"
    if name == "talk":
        return _parse_talk(where, item)
    if name == "connect":
        return _parse_connect(where, item)
    if name in KNOWN_ACTIONS:
        raise NccoError(f"{where}: the simulator cannot run '{name}' (it runs talk and connect)")
    raise NccoError(f"{where}: unknown action")


def _parse_talk(where: str, item: dict[str, Any]) -> Talk:
    text = item.get("text")
    if not isinstance(text, str) or not text:
        raise NccoError(f"{where}: 'text' must be a non-empty string")
    if len(text) > MAX_TALK_CHARS:
        raise NccoError(f"{where}: 'text' is over {MAX_TALK_CHARS} characters")
    language = _optional(where, item, "language", str)
    barge_in = _optional(where, item, "bargeIn", bool) or False
    loop = _optional(where, item, "loop", int)
    if loop is None:
        loop = 1
    if isinstance(loop, bool) or loop < 0:
        raise NccoError(f"{where}: 'loop' must be a whole number, 0 or more")
    if loop == 0 and not barge_in:
        # 0 repeats until the call ends: the next action would never run, and the
        # simulated caller, who hangs up after their audio, would never be heard.
        raise NccoError(f"{where}: 'loop' 0 without bargeIn would talk until the call ends")
    return Talk(text, language, barge_in, loop)


def _parse_connect(where: str, item: dict[str, Any]) -> Connect:
    endpoints = item.get("endpoint")
    if not isinstance(endpoints, list) or len(endpoints) != 1:
        raise NccoError(f"{where}: 'endpoint' must be a list of one endpoint")
    endpoint = _parse_endpoint(where, endpoints[0])
    _check_limit(where, item)
    event_type = _optional(where, item, "eventType", str)
    if event_type not in (None, "synchronous"):
        raise NccoError(f"{where}: eventType must be 'synchronous', not {event_type!r}")
    return Connect(
        endpoint=endpoint,
        event_url=_parse_event_url(where, item),
        event_method=_parse_method(where, item),
        synchronous=event_type == "synchronous",
        from_number=_parse_from(where, item),
        timeout=_parse_timeout(where, item),
    )


def _parse_endpoint(where: str, value: object) -> WebsocketEndpoint:
    if not isinstance(value, dict):
        raise NccoError(f"{where}: endpoint must be an object")
    kind = value.get("type")
    if kind != "websocket":
        raise NccoError(f"{where}: cannot connect to a {kind!r} endpoint (only 'websocket')")
    uri = value.get("uri")
    if not isinstance(uri, str) or urlsplit(uri).scheme not in ("ws", "wss"):
        raise NccoError(f"{where}: endpoint 'uri' must be a ws:// or wss:// URI")
    if not urlsplit(uri).hostname:
        raise NccoError(f"{where}: endpoint 'uri' has no host")
    content_type = value.get("content-type")
    if content_type not in CONTENT_TYPES:
        raise NccoError(
            f"{where}: endpoint 'content-type' {content_type!r} is not one of "
            + ", ".join(CONTENT_TYPES)
        )
    headers = _parse_headers(where, value.get("headers", {}))
    authorization = _parse_authorization(where, value.get("authorization"))
    return WebsocketEndpoint(uri, content_type, headers, authorization)


def _parse_headers(where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NccoError(f"{where}: endpoint 'headers' must be an object")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_HEADERS_BYTES:
        raise NccoError(f"{where}: endpoint 'headers' is {size} bytes (at most 512)")
    return dict(value)


def _parse_authorization(where: str, value: object) -> Authorization | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise NccoError(f"{where}: endpoint 'authorization' must be an object")
    kind = value.get("type")
    if kind == "vonage":
        return Authorization("vonage")
    if kind != "custom":
        raise NccoError(f"{where}: authorization type must be 'custom' or 'vonage'")
    secret = value.get("value")
    if not isinstance(secret, str) or not secret or not PRINTABLE_ASCII.match(secret):
        raise NccoError(f"{where}: custom authorization 'value' must be printable ASCII")
    if len(secret) > MAX_AUTHORIZATION_CHARS:
        raise NccoError(f"{where}: custom authorization 'value' is over 8191 characters")
    return Authorization("custom", secret)


def _parse_event_url(where: str, item: dict[str, Any]) -> str | None:
    urls = item.get("eventUrl")
    if urls is None:
        return None
    if not isinstance(urls, list) or len(urls) != 1 or not isinstance(urls[0], str):
        raise NccoError(f"{where}: 'eventUrl' must be a list of one URL")
    if urlsplit(urls[0]).scheme not in ("http", "https"):
        raise NccoError(f"{where}: 'eventUrl' must be an http(s) URL")
    return urls[0]


def _parse_method(where: str, item: dict[str, Any]) -> str:
    method = item.get("eventMethod", "POST")
    if method not in ("GET", "POST"):
        raise NccoError(f"{where}: 'eventMethod' must be GET or POST")
    return str(method)


def _parse_from(where: str, item: dict[str, Any]) -> str | None:
    number = _optional(where, item, "from", str)
    _optional(where, item, "randomFromNumber", bool)
    # The SDK's rule, stricter than Vonage's API: catches the tutorial's "NexmoTest".
    if number is not None and not E164.match(number):
        raise NccoError(f"{where}: 'from' {number!r} is not an E.164 number (digits only)")
    return number


def _parse_timeout(where: str, item: dict[str, Any]) -> float:
    timeout = _optional(where, item, "timeout", int)
    if timeout is None:
        return DEFAULT_CONNECT_TIMEOUT
    if isinstance(timeout, bool) or timeout < 1:
        raise NccoError(f"{where}: 'timeout' must be a whole number of seconds, at least 1")
    return timeout


def _check_limit(where: str, item: dict[str, Any]) -> None:
    # Checked, not enforced: a simulated call is far shorter than any limit.
    limit = _optional(where, item, "limit", int)
    if limit is not None and (isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT_SECONDS):
        raise NccoError(f"{where}: 'limit' must be 1..7200 seconds")


T = TypeVar("T")


def _optional(where: str, item: dict[str, Any], key: str, kind: type[T]) -> T | None:
    value = item.get(key)
    if value is not None and not isinstance(value, kind):
        raise NccoError(f"{where}: {key!r} must be {kind.__name__}, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(value), type(value).__name__)
