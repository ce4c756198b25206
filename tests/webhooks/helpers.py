"""Requests as Vonage makes them to the webhooks, for the route tests: signed, as JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    SOCKET_SECRET,
    TestClient,
    query_hash,
    sign,
)

ANSWER = "/webhooks/answer"
EVENTS = "/webhooks/events"
ANSWER_PARAMS = {
    "to": CALLED,
    "from": "447700900001",
    "uuid": CALL_UUID,
    "conversation_uuid": "CON-1f2e3d4c-0000-4000-8000-000000000000",
}
HOSTILE_HEADERS = {
    "host": "evil.example",
    "x-forwarded-host": "evil-forwarded.example",
    "x-forwarded-proto": "http",
    "x-forwarded-port": "81",
    "forwarded": "host=evil-rfc7239.example;proto=http",
}


def answer(client: TestClient, params: dict[str, str], **headers: str) -> httpx.Response:
    """A signed POST of the answer URL, as the application is set up (README, §1)."""
    return post_json(client, ANSWER, params, headers)


def signed_get(
    client: TestClient, path: str, params: dict[str, str], **claims: Any
) -> httpx.Response:
    """A GET signed as Vonage's support article says: payload_hash over the query (§6)."""
    claims.setdefault("payload_hash", query_hash(params))
    response: httpx.Response = client.get(
        path, params=params, headers={"authorization": sign(**claims)}
    )
    return response


def post_json(
    client: TestClient, path: str, payload: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A signed POST of ``payload`` as JSON, the signature over the exact bytes sent."""
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "authorization": sign(body)}
    all_headers.update(headers or {})
    response: httpx.Response = client.post(path, content=body, headers=all_headers)
    return response


def socket_event(connect: dict[str, Any], status: str, leg: str = "leg-1") -> dict[str, Any]:
    """The event Vonage posts about the websocket leg a connect action opened (§4)."""
    endpoint = connect["endpoint"][0]
    return {
        "from": connect.get("from", "447700900099"),
        "to": endpoint["uri"],
        "uuid": leg,
        "conversation_uuid": ANSWER_PARAMS["conversation_uuid"],
        "status": status,
        "direction": "outbound",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "headers": endpoint["headers"],
    }


def credential_claims(connect: dict[str, Any]) -> dict[str, Any]:
    """The claims of a connect's socket credential, checked as audio_socket checks them."""
    value = connect["endpoint"][0]["authorization"]["value"]
    assert value.startswith("Bearer ")
    claims: dict[str, Any] = jwt.decode(
        value.removeprefix("Bearer "), SOCKET_SECRET, algorithms=["HS256"], audience="audio_socket"
    )
    return claims


def metric_samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The /metrics samples keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
