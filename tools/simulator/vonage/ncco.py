"""The simulator's side: an NCCO parsed the way Vonage runs it (docs/vonage-protocol.md §2).

The simulator runs ``talk``, ``connect`` to one ``websocket`` endpoint, ``wait``,
``notify`` and ``input`` of DTMF, with the fields and defaults of Vonage's NCCO
reference and the limits of vonage-voice's models (``vonage_voice.models.ncco``,
"What the simulator models" in docs/vonage-protocol.md). The whole NCCO is
checked before any of it runs, as Vonage does: an NCCO it cannot run is a
:exc:`NccoError` naming the action and the problem.
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
KNOWN_ACTIONS = {"record", "conversation", "stream", "transfer", "pay"}
RUNS = "it runs talk, connect, wait, notify and input of DTMF"
# vonage-voice's Wait: 10 s unless given, clamped to 0.1..7200 s.
DEFAULT_WAIT = 10.0
WAIT_RANGE = (0.1, 7200.0)
# The NCCO reference's input defaults, and vonage-voice's Dtmf ranges.
DEFAULT_DTMF_TIMEOUT = 3
DEFAULT_MAX_DIGITS = 4
DTMF_TIMEOUT_RANGE = (0, 10)
MAX_DIGITS_RANGE = (1, 20)


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


@dataclass(frozen=True)
class Wait:
    """Hold the call for ``timeout`` seconds, then run the next action."""

    timeout: float = DEFAULT_WAIT


@dataclass(frozen=True)
class Notify:
    """Post ``payload`` to ``event_url``; an NCCO in the answer replaces the rest."""

    payload: dict[str, Any]
    event_url: str
    event_method: str = "POST"


@dataclass(frozen=True)
class Input:
    """Collect the caller's digits; post them; the NCCO in the answer runs next."""

    max_digits: int = DEFAULT_MAX_DIGITS
    timeout: float = DEFAULT_DTMF_TIMEOUT
    submit_on_hash: bool = False
    event_url: str | None = None
    event_method: str = "POST"


Action = Talk | Connect | Wait | Notify | Input


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
    if name == "wait":
        return _parse_wait(where, item)
    if name == "notify":
        return _parse_notify(where, item)
    if name == "input":
        return _parse_input(where, item)
    if name in KNOWN_ACTIONS:
        raise NccoError(f"{where}: the simulator cannot run '{name}' ({RUNS})")
    raise NccoError(f"{where}: unknown action")


def _parse_wait(where: str, item: dict[str, Any]) -> Wait:
    timeout = item.get("timeout")
    if timeout is None:
        return Wait()
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise NccoError(f"{where}: 'timeout' must be a number of seconds, not {_kind(timeout)}")
    low, high = WAIT_RANGE
    return Wait(min(max(float(timeout), low), high))  # clamped, as vonage-voice's Wait


def _parse_notify(where: str, item: dict[str, Any]) -> Notify:
    payload = item.get("payload")
    if not isinstance(payload, dict):
        raise NccoError(f"{where}: 'payload' must be an object")
    url = _parse_event_url(where, item)
    if url is None:
        raise NccoError(f"{where}: 'eventUrl' is required")
    return Notify(dict(payload), url, _parse_method(where, item))


def _parse_input(where: str, item: dict[str, Any]) -> Input:
    kinds = item.get("type")
    if not isinstance(kinds, list) or not kinds or not set(kinds) <= {"dtmf", "speech"}:
        raise NccoError(f"{where}: 'type' must be a list of 'dtmf' and/or 'speech'")
    if "speech" in kinds:
        raise NccoError(f"{where}: the simulator cannot run speech input (type 'speech')")
    mode = _optional(where, item, "mode", str)
    if mode not in (None, "synchronous"):
        raise NccoError(f"{where}: the simulator runs input mode 'synchronous' only, not {mode!r}")
    dtmf = _optional(where, item, "dtmf", dict) or {}
    timeout = _whole(where, dtmf, "timeOut", DTMF_TIMEOUT_RANGE, DEFAULT_DTMF_TIMEOUT)
    digits = _whole(where, dtmf, "maxDigits", MAX_DIGITS_RANGE, DEFAULT_MAX_DIGITS)
    on_hash = _optional(where, dtmf, "submitOnHash", bool) or False
    return Input(
        max_digits=digits,
        timeout=timeout,
        submit_on_hash=on_hash,
        event_url=_parse_event_url(where, item),
        event_method=_parse_method(where, item),
    )


def _whole(
    where: str, item: dict[str, Any], key: str, limits: tuple[int, int], default: int
) -> int:
    value = _optional(where, item, key, int)
    if value is None:
        return default
    low, high = limits
    if isinstance(value, bool) or not low <= value <= high:
        raise NccoError(f"{where}: dtmf {key!r} must be a whole number from {low} to {high}")
    return value


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
