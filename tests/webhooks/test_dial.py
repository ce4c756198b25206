"""Outbound calls: the answer route of a dialled call, the region in the credential,
and what python -m webhooks dial refuses before any request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from tests.app_credentials.keys import APP_ID, private_key_pem
from tests.webhooks.conftest import SOCKET_SECRET, make_settings
from tests.webhooks.helpers import ANSWER_PARAMS, post_json
from webhooks.app import create_app
from webhooks.dial import DialError, dial

DIALLED = {
    "to": "447700900001",  # the callee
    "from": "447700900000",  # our number, the dial's --from
    "uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356",
    "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
    "region_url": "https://api-us-3.vonage.com",
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The app with default settings."""
    with TestClient(create_app(make_settings()), base_url="https://testserver") as test:
        yield test


def _connect(response: httpx.Response) -> dict[str, Any]:
    talk, connect = response.json()
    assert talk["action"] == "talk"
    return dict(connect)


def test_outbound_answer_uses_our_number_and_says_outbound(client: TestClient) -> None:
    """/webhooks/answer/outbound: the connect's caller id is our from, not the callee."""
    connect = _connect(post_json(client, "/webhooks/answer/outbound", DIALLED))
    assert connect["from"] == "447700900000"
    (endpoint,) = connect["endpoint"]
    assert endpoint["headers"]["direction"] == "outbound"
    assert endpoint["headers"]["to"] == "447700900001"


def test_inbound_answer_uses_the_called_number(client: TestClient) -> None:
    """/webhooks/answer: the number called is ours."""
    connect = _connect(post_json(client, "/webhooks/answer", ANSWER_PARAMS))
    assert connect["from"] == ANSWER_PARAMS["to"]
    (endpoint,) = connect["endpoint"]
    assert endpoint["headers"]["direction"] == "inbound"


@pytest.mark.parametrize(
    ("region_url", "claim"),
    [("https://api-us-3.vonage.com", "api-us-3.vonage.com"), ("https://127.0.0.1:9", None)],
)
def test_region_reaches_the_credential_only_for_vonage(
    client: TestClient, region_url: str, claim: str | None
) -> None:
    """The signed credential carries region_url's host, and only a Vonage API host."""
    connect = _connect(post_json(client, "/webhooks/answer", DIALLED | {"region_url": region_url}))
    (endpoint,) = connect["endpoint"]
    token = endpoint["authorization"]["value"].removeprefix("Bearer ")
    claims = jwt.decode(token, SOCKET_SECRET, algorithms=["HS256"], audience="audio_socket")
    assert claims.get("region") == claim
    assert endpoint["headers"].get("region") == claim


def test_dial_without_credentials_names_the_variable() -> None:
    """No application: a clear error, no request."""
    with pytest.raises(DialError, match="VONAGE_APPLICATION_ID"):
        dial(make_settings(), "447700900001")


@pytest.mark.parametrize(("to", "caller"), [("not-a-number", None), ("447700900001", "me")])
def test_dial_refuses_bad_numbers(to: str, caller: str | None) -> None:
    """TO and --from are checked before anything is sent."""
    settings = make_settings(
        vonage_application_id=APP_ID,
        vonage_private_key=private_key_pem(serialization.PrivateFormat.PKCS8),
        vonage_api_host="127.0.0.1:9",
    )
    with pytest.raises(DialError, match=r"E\.164"):
        dial(settings, to, caller)
