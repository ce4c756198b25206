"""The socket leg's pure parts: the first message and the control replies."""

from __future__ import annotations

from simulator.leg import control_reply, first_message
from simulator.ncco import WebsocketEndpoint


def test_first_message_flattens_headers() -> None:
    """websocket:connected, the content type, then the headers at the top level."""
    endpoint = WebsocketEndpoint(
        "wss://h/s", "audio/l16;rate=24000", {"call_uuid": "u", "attempt": 2}
    )
    assert first_message(endpoint) == {
        "event": "websocket:connected",
        "content-type": "audio/l16;rate=24000",
        "call_uuid": "u",
        "attempt": 2,
    }


def test_first_message_headers_cannot_override_the_event() -> None:
    """A header named like a fixed key does not replace it."""
    endpoint = WebsocketEndpoint(
        "wss://h/s", "audio/l16;rate=8000", {"event": "x", "content-type": "y"}
    )
    assert first_message(endpoint) == {
        "event": "websocket:connected",
        "content-type": "audio/l16;rate=8000",
    }


def test_control_replies() -> None:
    """clear is answered with cleared, notify with its payload; anything else ignored."""
    assert control_reply('{"action":"clear"}') == {"event": "websocket:cleared"}
    assert control_reply('{"action":"notify","payload":{"n":1}}') == {
        "event": "websocket:notify",
        "payload": {"n": 1},
    }
    assert control_reply('{"event":"whatever"}') is None
    assert control_reply("not json") is None
    assert control_reply("[1]") is None
