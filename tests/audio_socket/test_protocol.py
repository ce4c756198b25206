"""The protocol core, fed messages directly: no sockets, no event loop."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from audio_socket.errors import (
    CallError,
    CloseCode,
    FirstMessageTooBig,
    InvalidPayload,
    PolicyViolation,
    UnsupportedData,
)
from audio_socket.protocol import (
    CLEAR_MESSAGE,
    FIRST_MESSAGE_MAX_BYTES,
    Cleared,
    Dtmf,
    Notified,
    UnknownEvent,
    build_notify,
    frame_bytes,
    parse_content_type,
    parse_event,
    parse_first_message,
)


def connected(**fields: Any) -> str:
    """A websocket:connected message with the given extra or replaced fields."""
    message: dict[str, Any] = {
        "event": "websocket:connected",
        "content-type": "audio/l16;rate=16000",
    }
    message.update(fields)
    return json.dumps(message)


@pytest.mark.parametrize(("rate", "size"), [(8000, 320), (16000, 640), (24000, 960)])
def test_frame_sizes_match_the_protocol_table(rate: int, size: int) -> None:
    """20 ms of 16-bit mono PCM is 320, 640 or 960 bytes (docs/vonage-protocol.md §3)."""
    assert frame_bytes(rate) == size


@pytest.mark.parametrize(("rate", "size"), [(8000, 320), (16000, 640), (24000, 960)])
def test_first_message_negotiates_rate_and_frame_size(rate: int, size: int) -> None:
    """The content-type's rate sets the call's frame size."""
    start = parse_first_message(connected(**{"content-type": f"audio/l16;rate={rate}"}))
    assert (start.sample_rate, start.frame_bytes) == (rate, size)


def test_first_message_headers_become_metadata() -> None:
    """Top-level keys other than event and content-type are the NCCO headers."""
    start = parse_first_message(connected(call_uuid="abc", attempt=2, team="blue"))
    assert start.call_uuid == "abc"
    assert start.attempt == 2
    assert start.metadata == {"call_uuid": "abc", "attempt": 2, "team": "blue"}


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), ("4", 4), (True, None), ("x", None), (None, None)]
)
def test_attempt_is_read_leniently(value: object, expected: int | None) -> None:
    """attempt is an integer; a decimal string counts, anything else is unknown."""
    assert parse_first_message(connected(attempt=value)).attempt == expected


def test_call_uuid_must_be_a_string() -> None:
    """A non-string call_uuid is treated as absent."""
    assert parse_first_message(connected(call_uuid=7)).call_uuid is None


@pytest.mark.parametrize(
    "content_type",
    ["audio/l16;rate=16000", "Audio/L16; rate=16000", " audio/l16 ;  rate=16000 "],
)
def test_content_type_tolerates_case_and_spaces(content_type: str) -> None:
    """Media types are case-insensitive and parameters may be spaced."""
    assert parse_content_type(content_type) == 16000


@pytest.mark.parametrize(
    "content_type",
    [
        "audio/l16;rate=44100",
        "audio/l16",
        "audio/l16;rate=",
        "audio/l16;rate=8000;rate=16000",
        "audio/pcmu;rate=8000",
        "text/plain",
    ],
)
def test_unsupported_content_types_are_unsupported_data(content_type: str) -> None:
    """Another format or rate closes with 1003 unsupported data."""
    with pytest.raises(UnsupportedData) as caught:
        parse_first_message(connected(**{"content-type": content_type}))
    assert caught.value.close_code is CloseCode.UNSUPPORTED_DATA


@pytest.mark.parametrize(
    ("message", "error", "code"),
    [
        (b"\x00\x01" * 320, UnsupportedData, CloseCode.UNSUPPORTED_DATA),
        ("not json", InvalidPayload, CloseCode.INVALID_DATA),
        ("[1, 2]", InvalidPayload, CloseCode.INVALID_DATA),
        ('{"content-type": "audio/l16;rate=16000"}', PolicyViolation, CloseCode.POLICY_VIOLATION),
        (connected(event="websocket:dtmf"), PolicyViolation, CloseCode.POLICY_VIOLATION),
        ('{"event": "websocket:connected"}', PolicyViolation, CloseCode.POLICY_VIOLATION),
        (connected(**{"content-type": 16000}), PolicyViolation, CloseCode.POLICY_VIOLATION),
        (
            connected(pad="x" * FIRST_MESSAGE_MAX_BYTES),
            FirstMessageTooBig,
            CloseCode.MESSAGE_TOO_BIG,
        ),
    ],
    ids=[
        "binary",
        "not-json",
        "not-object",
        "no-event",
        "other-event",
        "no-content-type",
        "content-type-not-string",
        "over-4-KiB",
    ],
)
def test_bad_first_messages_map_to_close_codes(
    message: str | bytes, error: type[CallError], code: CloseCode
) -> None:
    """Each bad first message raises the error whose close code fits it."""
    with pytest.raises(error) as caught:
        parse_first_message(message)
    assert caught.value.close_code is code
    assert 0 < len(caught.value.reason.encode()) <= 123


def test_first_message_size_counts_bytes_not_characters() -> None:
    """4 KiB is measured in UTF-8 bytes: 2,000 two-byte characters are too many."""
    with pytest.raises(FirstMessageTooBig):
        parse_first_message(connected(pad="é" * 2100))


def test_first_message_at_the_limit_is_accepted() -> None:
    """A first message of exactly 4 KiB still opens the call."""
    base = connected(pad="")
    message = connected(pad="x" * (FIRST_MESSAGE_MAX_BYTES - len(base)))
    assert len(message.encode()) == FIRST_MESSAGE_MAX_BYTES
    assert parse_first_message(message).sample_rate == 16000


def test_dtmf_flat_form() -> None:
    """The documented form: digit and duration at the top level."""
    event = parse_event('{"event":"websocket:dtmf","digit":"5","duration":260}')
    assert event == Dtmf("5", 260)


def test_dtmf_nested_form() -> None:
    """pipecat's form: a nested dtmf object."""
    event = parse_event('{"event":"websocket:dtmf","dtmf":{"digit":"#","duration":100}}')
    assert event == Dtmf("#", 100)


def test_dtmf_nested_form_without_event() -> None:
    """A bare nested dtmf object is understood too."""
    assert parse_event('{"dtmf":{"digit":"7"}}') == Dtmf("7", None)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"event":"websocket:dtmf","digit":3}', Dtmf("3", None)),
        ('{"event":"websocket:dtmf","digit":"*","duration":"long"}', Dtmf("*", None)),
        ('{"event":"websocket:dtmf","digit":"A","duration":true}', Dtmf("A", None)),
    ],
)
def test_dtmf_tolerates_loose_types(message: str, expected: Dtmf) -> None:
    """An integer digit is read as its string; a non-integer duration is unknown."""
    assert parse_event(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        '{"event":"websocket:dtmf"}',
        '{"event":"websocket:dtmf","digit":"55"}',
        '{"event":"websocket:dtmf","digit":"x"}',
        '{"event":"websocket:dtmf","digit":true}',
    ],
)
def test_dtmf_without_a_valid_digit_is_unknown(message: str) -> None:
    """A DTMF event without one key of the pad is ignored, not guessed."""
    assert parse_event(message) == UnknownEvent("websocket:dtmf")


def test_cleared_event() -> None:
    """websocket:cleared answers a clear action."""
    assert parse_event('{"event":"websocket:cleared"}') == Cleared()


def test_notify_event_carries_its_payload() -> None:
    """websocket:notify returns the payload sent with the notify action."""
    event = parse_event('{"event":"websocket:notify","payload":{"mark":3}}')
    assert event == Notified({"mark": 3})


def test_notify_event_without_object_payload() -> None:
    """A notify event whose payload is not an object has an empty payload."""
    assert parse_event('{"event":"websocket:notify","payload":5}') == Notified({})


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ('{"event":"websocket:something-new","x":1}', "websocket:something-new"),
        ('{"event":"websocket:connected","content-type":"audio/l16;rate=8000"}', None),
        ('{"event":5}', None),
        ('{"hello":"world"}', None),
        ("[]", None),
        ("not json at all", None),
        ("", None),
    ],
)
def test_anything_else_is_an_unknown_event(message: str, name: str | None) -> None:
    """Unknown text never raises: §3 says ignore what is not understood."""
    event = parse_event(message)
    assert isinstance(event, UnknownEvent)
    if name is not None:
        assert event.name == name


def test_clear_action() -> None:
    """The clear control message is exactly {"action":"clear"}."""
    assert json.loads(CLEAR_MESSAGE) == {"action": "clear"}


def test_notify_action() -> None:
    """The notify control message carries its payload."""
    assert json.loads(build_notify({"id": "x", "n": 1})) == {
        "action": "notify",
        "payload": {"id": "x", "n": 1},
    }


def test_core_imports_neither_asyncio_nor_websockets() -> None:
    """protocol, framing and errors stay pure: importing them loads no I/O library."""
    code = (
        "import sys; import audio_socket.protocol, audio_socket.framing, audio_socket.errors; "
        "print(sorted(m for m in ('asyncio', 'websockets') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
