"""The socket leg's pure parts: the first message (control replies: test_playout.py)."""

from __future__ import annotations

from simulator.vonage.leg import first_message
from simulator.vonage.ncco import WebsocketEndpoint


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
