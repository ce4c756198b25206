"""The answer route: the greeting, the connect action and its socket credential."""

from __future__ import annotations

import json

import pytest

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    EVENTS_URL,
    SOCKET_URI,
    TestClient,
    make_settings,
    sign,
)
from tests.webhooks.helpers import (
    ANSWER,
    ANSWER_PARAMS,
    EVENTS,
    HOSTILE_HEADERS,
    answer,
    credential_claims,
    post_json,
    socket_event,
)
from webhooks.app import create_app
from webhooks.ncco import speech_seconds


def test_answer_returns_greeting_and_connect(client: TestClient) -> None:
    """A signed answer returns talk, then a synchronous connect to our socket."""
    response = answer(client, ANSWER_PARAMS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    talk, connect = response.json()
    assert talk["action"] == "talk"
    assert connect["action"] == "connect"
    assert connect["eventType"] == "synchronous"
    assert connect["eventUrl"] == [EVENTS_URL]
    assert connect["from"] == CALLED
    (endpoint,) = connect["endpoint"]
    assert endpoint["type"] == "websocket"
    assert endpoint["uri"] == SOCKET_URI
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert endpoint["headers"] == {
        "call_uuid": CALL_UUID,
        "attempt": 1,
        "conversation_uuid": ANSWER_PARAMS["conversation_uuid"],
        "from": ANSWER_PARAMS["from"],
        "to": CALLED,
        "direction": "inbound",
    }
    assert endpoint["authorization"]["type"] == "custom"


def test_answer_post_json_with_charset(client: TestClient) -> None:
    """A JSON body with a charset parameter in its Content-Type is read the same."""
    headers = {"content-type": "application/json; charset=utf-8"}
    response = post_json(client, ANSWER, ANSWER_PARAMS, headers)
    assert response.status_code == 200
    assert response.json()[1]["endpoint"][0]["headers"]["call_uuid"] == CALL_UUID


def test_answer_credential_names_the_call(client: TestClient) -> None:
    """The endpoint carries a valid HS256 credential whose sub is the call uuid."""
    claims = credential_claims(answer(client, ANSWER_PARAMS).json()[1])
    assert claims["sub"] == CALL_UUID
    assert claims["iss"] == "webhooks"
    assert claims["attempt"] == 1
    # SOCKET_TOKEN_TTL (30 s) after the greeting's estimated end, and not much more.
    greeting = speech_seconds(make_settings().greeting_text)
    assert greeting + 30 <= claims["exp"] - claims["iat"] <= greeting + 32


def test_long_greeting_cannot_expire_the_credential() -> None:
    """A minute-long greeting: the credential lives past its end by SOCKET_TOKEN_TTL."""
    text = "Please hold. " * 115  # 1,495 characters, 230 words: Vonage's longest talk
    settings = make_settings(greeting_text=text, socket_token_ttl=10)
    with TestClient(create_app(settings)) as client:
        connect = answer(client, ANSWER_PARAMS).json()[1]
    claims = credential_claims(connect)
    # At 150 words a minute (a voice's default rate) it ends after 92 s; at a slow
    # 120, 115 s. The credential outlives both by the TTL.
    assert claims["exp"] - claims["iat"] >= 230 / 120 * 60 + 10


@pytest.mark.parametrize(
    ("text", "at_least"),
    [("a " * 700, 700 / 150 * 60), ('Hello <break time="30s"/> there', 30), ("Hi", 0.5)],
)
def test_speech_estimate_is_generous(text: str, at_least: float) -> None:
    """Short words, SSML pauses: the estimate never falls below a brisk voice's time."""
    assert speech_seconds(text) >= at_least


def test_answer_without_e164_to_uses_random_number(client: TestClient) -> None:
    """A `to` that is not an E.164 number gives randomFromNumber instead of `from`."""
    connect = answer(client, {**ANSWER_PARAMS, "to": "NexmoTest"}).json()[1]
    assert "from" not in connect
    assert connect["randomFromNumber"] is True


def test_answer_accepts_unknown_parameters(client: TestClient) -> None:
    """Newer parameters Vonage may add are accepted and ignored (§1)."""
    params = {**ANSWER_PARAMS, "region_url": "https://api-eu.vonage.com", "SipHeader_X": "1"}
    assert answer(client, params).status_code == 200


def test_hostile_host_headers_do_not_change_urls(client: TestClient) -> None:
    """Host and X-Forwarded-* headers never change a URL in the NCCO."""
    connect = answer(client, ANSWER_PARAMS, **HOSTILE_HEADERS).json()[1]
    assert connect["eventUrl"] == [EVENTS_URL]
    assert connect["endpoint"][0]["uri"] == SOCKET_URI
    body = json.dumps(socket_event(connect, "disconnected")).encode()
    response = client.post(
        EVENTS,
        content=body,
        headers={
            "content-type": "application/json",
            "authorization": sign(body),
            **HOSTILE_HEADERS,
        },
    )
    (reconnect,) = response.json()
    assert reconnect["eventUrl"] == [EVENTS_URL]
    assert reconnect["endpoint"][0]["uri"] == SOCKET_URI


def test_trailing_slash_is_not_redirected(client: TestClient) -> None:
    """No redirect (whose Location would come from Host): a trailing slash is a 404."""
    response = client.get(ANSWER + "/", headers=HOSTILE_HEADERS, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


def test_answer_logs_one_line(client: TestClient, logs: pytest.LogCaptureFixture) -> None:
    """An answer logs a single INFO lifecycle line with the call uuid and no credential."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    assert [r.getMessage() for r in logs.records] == ["call answered"]
    assert logs.records[0].__dict__["uuid"] == CALL_UUID
    token = connect["endpoint"][0]["authorization"]["value"].removeprefix("Bearer ")
    assert token not in logs.text
