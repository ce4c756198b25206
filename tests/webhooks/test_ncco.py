"""Tests for webhooks.ncco: the answer, reconnect and apology NCCOs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from vonage_voice.models.ncco import Connect, Talk  # type: ignore[import-untyped]

from tests.webhooks.conftest import CALL_UUID, CALLED, EVENTS_URL, SOCKET_URI, make_settings
from webhooks.errors import BadRequest
from webhooks.ncco import Action, NccoBuilder, caller_id, endpoint_headers

CREDENTIAL = "header.payload.signature"


def parse_back(action: Action) -> Any:
    """Validate a serialised action with vonage-voice's own model and check it round-trips."""
    if action["action"] == "talk":
        model = Talk.model_validate(action)
    else:
        # The models alias these two only for output, so input uses the field names.
        fields = dict(action)
        if "from" in fields:
            fields["from_"] = fields.pop("from")
        fields["endpoint"] = [
            {("contentType" if key == "content-type" else key): value for key, value in e.items()}
            for e in fields["endpoint"]
        ]
        model = Connect.model_validate(fields)
    assert model.model_dump(mode="json", by_alias=True, exclude_none=True) == action
    return model


@pytest.fixture
def builder() -> NccoBuilder:
    """A builder for the default settings."""
    return NccoBuilder.from_settings(make_settings())


def test_answer_ncco_is_greeting_then_connect(builder: NccoBuilder) -> None:
    """The answer NCCO is the greeting talk, then a synchronous connect to the socket."""
    talk, connect = builder.build_answer_ncco(CALL_UUID, CALLED, CREDENTIAL)
    assert talk == {
        "action": "talk",
        "text": "Please wait while we connect your call.",
        "language": "en-US",
    }
    assert connect == {
        "action": "connect",
        "from": CALLED,
        "eventType": "synchronous",
        "eventUrl": [EVENTS_URL],
        "endpoint": [
            {
                "type": "websocket",
                "uri": SOCKET_URI,
                "content-type": "audio/l16;rate=16000",
                "headers": {"call_uuid": CALL_UUID, "attempt": 1},
                "authorization": {"type": "custom", "value": f"Bearer {CREDENTIAL}"},
            }
        ],
    }


def test_answer_ncco_parses_back_with_vonage_models(builder: NccoBuilder) -> None:
    """Each action validates against vonage-voice's Talk and Connect and round-trips."""
    talk, connect = (parse_back(a) for a in builder.build_answer_ncco(CALL_UUID, CALLED, "t"))
    assert isinstance(talk, Talk)
    assert isinstance(connect, Connect)
    assert connect.endpoint[0].contentType == "audio/l16;rate=16000"
    assert connect.from_ == CALLED


@pytest.mark.parametrize(
    ("called", "expected"),
    [
        ("447700900000", "447700900000"),
        ("+14155552671", "14155552671"),
        ("NexmoTest", None),
        ("0447700900000", None),
        ("12345", None),
        ("1234567890123456", None),
        ("sip:alice@example.com", None),
        (None, None),
        (447700900000, None),
    ],
)
def test_from_is_the_called_number_or_random(
    builder: NccoBuilder, called: object, expected: str | None
) -> None:
    """An E.164 called number becomes `from`; anything else asks for randomFromNumber."""
    assert caller_id(called) == expected
    connect = builder.build_answer_ncco(CALL_UUID, called, CREDENTIAL)[1]
    if expected is None:
        assert "from" not in connect
        assert connect["randomFromNumber"] is True
    else:
        assert connect["from"] == expected
        assert "randomFromNumber" not in connect
    parse_back(connect)


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_content_type_follows_sample_rate(rate: int) -> None:
    """AUDIO_SAMPLE_RATE selects the endpoint's content-type."""
    builder = NccoBuilder.from_settings(make_settings(audio_sample_rate=rate))
    connect = builder.build_answer_ncco(CALL_UUID, CALLED, CREDENTIAL)[1]
    assert connect["endpoint"][0]["content-type"] == f"audio/l16;rate={rate}"


def test_headers_stay_under_vonage_limit() -> None:
    """The longest accepted uuid still serialises the headers in under 512 bytes."""
    headers = endpoint_headers("f" * 128, 10)
    assert len(json.dumps(headers).encode()) < 512


def test_oversized_headers_are_refused() -> None:
    """A uuid that would break Vonage's 512-byte headers limit is a bad request."""
    with pytest.raises(BadRequest, match="too long"):
        endpoint_headers("f" * 600, 1)


def test_reconnect_ncco_is_one_connect_with_the_next_attempt(builder: NccoBuilder) -> None:
    """A reconnect is a single connect carrying the call uuid and the attempt given."""
    (connect,) = builder.build_reconnect_ncco(CALL_UUID, 2, CALLED, CREDENTIAL)
    parse_back(connect)
    assert connect["action"] == "connect"
    assert connect["eventType"] == "synchronous"
    assert connect["endpoint"][0]["headers"] == {"call_uuid": CALL_UUID, "attempt": 2}
    assert connect["endpoint"][0]["authorization"]["value"] == f"Bearer {CREDENTIAL}"


def test_apology_ncco_speaks_apology_text() -> None:
    """The apology is one talk action with APOLOGY_TEXT."""
    builder = NccoBuilder.from_settings(make_settings(apology_text="Sorry, goodbye."))
    (talk,) = builder.build_apology_ncco()
    assert talk == {"action": "talk", "text": "Sorry, goodbye.", "language": "en-US"}
    parse_back(talk)


def test_greeting_is_configurable() -> None:
    """GREETING_TEXT and GREETING_LANGUAGE shape the first action."""
    settings = make_settings(greeting_text="Hallo", greeting_language="de-DE")
    talk = NccoBuilder.from_settings(settings).build_answer_ncco(CALL_UUID, CALLED, "t")[0]
    assert talk == {"action": "talk", "text": "Hallo", "language": "de-DE"}


def test_static_talk_is_built_once(builder: NccoBuilder) -> None:
    """The greeting is serialised at start-up and shared, not rebuilt per request."""
    first = builder.build_answer_ncco(CALL_UUID, CALLED, "a")[0]
    second = builder.build_answer_ncco("other-call", CALLED, "b")[0]
    assert first is second is builder.greeting
