"""Property tests: arbitrary requests at both webhook routes never get a 5xx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    EVENTS_URL,
    SOCKET_URI,
    TestClient,
    make_settings,
    sign,
)
from webhooks.app import create_app

PATHS = ["/webhooks/answer", "/webhooks/events"]
STATUSES = ["disconnected", "failed", "unanswered", "timeout", "rejected", "completed", "started"]

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
uuids = st.one_of(st.just(CALL_UUID), st.text(max_size=30), json_values)
endpoint_headers = st.one_of(
    st.fixed_dictionaries(
        {"call_uuid": uuids, "attempt": st.one_of(st.integers(-2, 12), st.text(max_size=3))}
    ),
    json_values,
)
# Shaped like Vonage's payloads (§1, §4, §5) so the deeper paths get exercised too.
vonage_like = st.fixed_dictionaries(
    {},
    optional={
        "uuid": uuids,
        "conversation_uuid": json_values,
        "status": st.one_of(st.sampled_from(STATUSES), json_values),
        "to": st.one_of(st.sampled_from([SOCKET_URI, CALLED]), json_values),
        "from": st.one_of(st.just(CALLED), json_values),
        "direction": json_values,
        "duration": json_values,
        "headers": st.one_of(endpoint_headers, endpoint_headers.map(json.dumps)),
    },
)
# Events about our own socket leg, mostly well-formed, to reach the reconnect and apology.
socket_events = st.fixed_dictionaries(
    {
        "uuid": st.just("leg-1"),
        "to": st.just(SOCKET_URI),
        "status": st.sampled_from(STATUSES),
        "headers": st.fixed_dictionaries(
            {"call_uuid": st.just(CALL_UUID), "attempt": st.integers(-1, 5)}
        ),
    },
    optional={"from": st.one_of(st.just(CALLED), json_values), "surprise": json_values},
)
payloads = st.one_of(vonage_like, socket_events)
bodies = st.one_of(
    st.binary(max_size=256),
    json_values.map(lambda value: json.dumps(value).encode()),
    payloads.map(lambda value: json.dumps(value).encode()),
)
queries = st.one_of(
    st.lists(st.tuples(st.text(max_size=10), st.text(max_size=30)), max_size=5),
    payloads.map(
        lambda value: [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]
    ),
)
header_names = st.one_of(
    st.sampled_from(
        ["content-type", "host", "x-forwarded-host", "x-forwarded-proto", "forwarded", "accept"]
    ),
    st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True).filter(
        lambda name: name not in {"content-length", "transfer-encoding", "authorization"}
    ),
)
content_types = st.sampled_from(
    ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", ""]
)
signatures = st.sampled_from(["valid", "missing", "garbage", "wrong-key", "stale", "other-body"])


def _authorization(kind: str, body: bytes) -> dict[str, str]:
    match kind:
        case "valid":
            return {"authorization": sign(body)}
        case "garbage":
            return {"authorization": "Bearer x.y.z"}
        case "wrong-key":
            return {"authorization": sign(body, secret="w" * 64)}
        case "stale":
            return {"authorization": sign(body, iat=time.time() - 3600)}
        case "other-body":
            return {"authorization": sign(body + b" ")}
        case _:
            return {}


def _urls(value: Any) -> Iterator[str]:
    """Every URL in an NCCO."""
    if isinstance(value, list):
        for item in value:
            yield from _urls(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "uri":
                yield item
            elif key == "eventUrl":
                yield from item
            else:
                yield from _urls(item)


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[bool, TestClient]]:
    """Started apps with signature verification on (True) and off (False)."""
    verifying = create_app(make_settings())
    open_app = create_app(
        make_settings(vonage_verify_signatures=False, vonage_signature_secret=None)
    )
    with TestClient(verifying) as on, TestClient(open_app) as off:
        yield {True: on, False: off}


@dataclass(frozen=True)
class Throw:
    """One arbitrary request at a webhook route."""

    verify: bool
    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes
    headers: dict[str, str]


@st.composite
def throws(draw: st.DrawFn) -> Throw:
    """A request with any body, headers and query string, signed well, badly or not at all."""
    body = draw(bodies)
    headers = {"content-type": draw(content_types)}
    headers.update(draw(st.dictionaries(header_names, printable, max_size=4)))
    headers.update(_authorization(draw(signatures), body))
    return Throw(
        verify=draw(st.booleans()),
        method=draw(st.sampled_from(["GET", "POST", "GET", "POST", "GET", "POST", "HEAD", "PUT"])),
        path=draw(st.sampled_from(PATHS)),
        query=draw(queries),
        body=body,
        headers=headers,
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(throw=throws())
def test_any_request_gets_2xx_or_4xx(clients: dict[bool, TestClient], throw: Throw) -> None:
    """Arbitrary bodies, headers and query strings, signed or not: only 2xx or 4xx."""
    response: httpx.Response = clients[throw.verify].request(
        throw.method, throw.path, params=throw.query, content=throw.body, headers=throw.headers
    )
    assert 200 <= response.status_code < 500, response.text
    if throw.method == "HEAD":
        return
    if response.status_code == 200:
        for url in _urls(response.json()):
            assert url in {SOCKET_URI, EVENTS_URL}
    elif response.status_code >= 400:
        assert set(response.json()) == {"error", "detail"}


@settings(max_examples=100, deadline=None)
@given(raw_query=st.text(alphabet="abuidtos=&%0123456789ABCDEFf+;,/?#[]", max_size=40))
def test_raw_query_strings_get_2xx_or_4xx(clients: dict[bool, TestClient], raw_query: str) -> None:
    """Raw, possibly broken percent-encoding in the query string never gets a 5xx."""
    for path in PATHS:
        response: httpx.Response = clients[False].get(f"{path}?{raw_query}")
        assert 200 <= response.status_code < 500, response.text
