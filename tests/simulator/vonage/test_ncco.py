"""NCCO parsing: what runs, and a clear error for what cannot (docs/vonage-protocol.md §2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from simulator.errors import NccoError
from simulator.vonage.ncco import (
    Authorization,
    Connect,
    Input,
    Notify,
    Talk,
    Wait,
    parse_ncco,
    parse_ncco_json,
)
from tests.simulator.fakes import TOKEN, connect_ncco

GOOD = connect_ncco("wss://localhost:8443/socket", "https://localhost:8443/webhooks/events")


def with_connect(**changes: Any) -> list[dict[str, Any]]:
    """The good NCCO with fields of its connect action changed (None deletes)."""
    ncco = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            ncco[1].pop(key, None)
        else:
            ncco[1][key] = value
    return ncco


def with_endpoint(**changes: Any) -> list[dict[str, Any]]:
    """The good NCCO with fields of its endpoint changed (None deletes)."""
    ncco = copy.deepcopy(GOOD)
    endpoint = ncco[1]["endpoint"][0]
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            endpoint.pop(key, None)
        else:
            endpoint[key] = value
    return ncco


def test_the_services_ncco() -> None:
    """talk then a synchronous connect to one websocket endpoint."""
    talk, connect = parse_ncco(GOOD)
    assert talk == Talk("Please wait while we connect you to the echo server")
    assert isinstance(connect, Connect)
    assert connect.synchronous is True
    assert connect.event_url == "https://localhost:8443/webhooks/events"
    assert connect.event_method == "POST"
    assert connect.from_number == "447700900000"
    assert connect.endpoint.uri == "wss://localhost:8443/socket"
    assert connect.endpoint.rate == 16000
    assert connect.endpoint.headers == {"call_uuid": "c-1", "attempt": 1}
    assert connect.endpoint.authorization == Authorization("custom", TOKEN)


def test_json_bytes_and_optional_fields() -> None:
    """From response bytes; eventUrl, eventType, authorization and headers are optional."""
    body = b'[{"action":"connect","randomFromNumber":true,"endpoint":[{"type":"websocket","uri":"ws://h/s","content-type":"audio/l16;rate=8000"}]}]'
    [connect] = parse_ncco_json(body)
    assert isinstance(connect, Connect)
    assert (connect.synchronous, connect.event_url, connect.endpoint.authorization) == (
        False,
        None,
        None,
    )
    assert connect.endpoint.rate == 8000
    assert connect.endpoint.headers == {}


def test_vonage_authorization() -> None:
    """authorization type vonage is understood (the simulator signs it)."""
    [_, connect] = parse_ncco(with_endpoint(authorization={"type": "vonage"}))
    assert isinstance(connect, Connect)
    assert connect.endpoint.authorization == Authorization("vonage")


@pytest.mark.parametrize(
    ("ncco", "message"),
    [
        ({"action": "talk"}, "must be a JSON array"),
        ([{"text": "hi"}], "must be an object with an 'action'"),
        ([{"action": "stream", "streamUrl": ["x"]}], "cannot run 'stream'"),
        ([{"action": "input", "type": ["dtmf", "speech"]}], "cannot run speech input"),
        ([{"action": "input"}], "'type' must be a list of 'dtmf'"),
        ([{"action": "input", "type": ["dtmf"], "dtmf": {"maxDigits": 21}}], "from 1 to 20"),
        ([{"action": "input", "type": ["dtmf"], "dtmf": {"timeOut": 11}}], "from 0 to 10"),
        ([{"action": "input", "type": ["dtmf"], "mode": "asynchronous"}], "'synchronous' only"),
        ([{"action": "notify", "payload": {}}], "'eventUrl' is required"),
        ([{"action": "notify", "eventUrl": ["https://h/e"]}], "'payload' must be an object"),
        ([{"action": "wait", "timeout": "5"}], "number of seconds"),
        ([{"action": "record"}], "cannot run 'record'"),
        ([{"action": "dance"}], "unknown action"),
        ([{"action": "talk", "text": ""}], "'text' must be a non-empty string"),
        (with_connect(endpoint=[]), "list of one endpoint"),
        (with_endpoint(type="phone"), "cannot connect to a 'phone' endpoint"),
        (with_endpoint(uri="https://h/socket"), "ws:// or wss://"),
        (with_endpoint(content_type="audio/l16;rate=44100"), "'content-type'"),
        (with_endpoint(content_type=None), "'content-type'"),
        (with_endpoint(headers={"k": "x" * 600}), "at most 512"),
        (with_endpoint(headers=[1]), "'headers' must be an object"),
        (with_endpoint(authorization={"type": "basic"}), "'custom' or 'vonage'"),
        (with_endpoint(authorization={"type": "custom", "value": "Bearer é"}), "printable ASCII"),
        (with_endpoint(authorization={"type": "custom", "value": "x" * 8192}), "over 8191"),
        (with_connect(eventType="async"), "eventType must be 'synchronous'"),
        (with_connect(eventUrl="https://h/e"), "list of one URL"),
        (with_connect(eventUrl=["ftp://h/e"]), "http(s) URL"),
        (with_connect(eventMethod="PUT"), "GET or POST"),
        (with_connect(**{"from": "NexmoTest"}), "not an E.164 number"),
        (with_connect(limit=9000), "1..7200"),
    ],
)
def test_ncco_it_cannot_run(ncco: object, message: str) -> None:
    """Each problem is a NccoError naming the action and what is wrong."""
    with pytest.raises(NccoError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ncco(ncco)


@pytest.mark.parametrize(
    ("given", "seconds"), [(None, 10.0), (0.5, 0.5), (0, 0.1), (9000, 7200.0), (3, 3.0)]
)
def test_wait_defaults_and_clamps_as_the_sdk(given: float | None, seconds: float) -> None:
    """wait: 10 s unless given, clamped to 0.1..7200 s as vonage-voice's Wait does."""
    action = {"action": "wait"} | ({} if given is None else {"timeout": given})
    assert parse_ncco([action]) == [Wait(seconds)]


def test_input_and_notify_defaults() -> None:
    """input of DTMF: 3 s, 4 digits, no submit on #, the application's event URL."""
    ncco = [
        {"action": "input", "type": ["dtmf"]},
        {"action": "notify", "payload": {"step": 1}, "eventUrl": ["https://h/n"]},
    ]
    assert parse_ncco(ncco) == [
        Input(max_digits=4, timeout=3, submit_on_hash=False, event_url=None),
        Notify({"step": 1}, "https://h/n", "POST"),
    ]


def test_not_json() -> None:
    """A body that is not JSON is an NCCO it cannot run."""
    with pytest.raises(NccoError, match="not JSON"):
        parse_ncco_json(b"<html>")
