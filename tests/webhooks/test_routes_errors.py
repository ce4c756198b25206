"""Bad input and limits: every refusal is a JSON error naming the problem, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.webhooks.conftest import (
    CALL_UUID,
    CALLED,
    TestClient,
    sign,
)
from tests.webhooks.helpers import (
    ANSWER,
    ANSWER_PARAMS,
    EVENTS,
    answer,
    metric_samples,
    post_json,
)
from webhooks.app import create_app
from webhooks.ncco import NccoBuilder


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        ("application/json", b'{"uuid": ', "malformed JSON"),
        ("application/json", b"\xff\xfe\xfd", "malformed JSON"),
        ("application/json", b"[1, 2]", "must be an object"),
        ("application/json", b"", "JSON body is required"),
        ("text/plain", b'{"uuid": "x"}', "Content-Type must be application/json"),
        ("application/x-www-form-urlencoded", b"uuid=x", "Content-Type must be application/json"),
        (None, b'{"uuid": "x"}', "Content-Type must be application/json"),
        ("application/json", b'{"to": "447700900000"}', "uuid is required"),
        ("application/json", b'{"uuid": 42}', "uuid must be a string"),
        ("application/json", b'{"uuid": "a b"}', "uuid must be a string"),
    ],
)
@pytest.mark.parametrize("path", [ANSWER, EVENTS])
def test_bad_requests_name_the_problem(
    client: TestClient, path: str, content_type: str | None, body: bytes, detail: str
) -> None:
    """Malformed JSON, wrong content type or a missing uuid is a 400 naming the problem."""
    headers = {"authorization": sign(body)}
    if content_type is not None:
        headers["content-type"] = content_type
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_deeply_nested_json_is_a_bad_request(client: TestClient) -> None:
    """JSON nested beyond the parser's depth is 400, not a crash."""
    body = b"[" * 32_000 + b"]" * 32_000
    headers = {"content-type": "application/json", "authorization": sign(body)}
    response = client.post(EVENTS, content=body, headers=headers)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["detail"]


def test_missing_uuid(client: TestClient) -> None:
    """An answer without uuid is 400 naming uuid."""
    response = answer(client, {"to": CALLED})
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "detail": "uuid is required"}


def test_body_at_the_limit_is_accepted(client: TestClient) -> None:
    """A body of exactly 64 KiB is read."""
    payload = {"uuid": CALL_UUID, "status": "answered", "pad": ""}
    payload["pad"] = "x" * (65_536 - len(json.dumps(payload)))
    assert len(json.dumps(payload)) == 65_536
    assert post_json(client, EVENTS, payload).status_code == 204


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    """A body over 64 KiB is 413, with or without a Content-Length."""
    body = b"x" * 65_537
    response = client.post(EVENTS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    chunks = iter([b"x" * 40_000, b"x" * 40_000])
    response = client.post(ANSWER, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_path_is_json_404(client: TestClient) -> None:
    """An unknown path is 404 with a JSON error."""
    response = client.get("/webhooks/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", ANSWER), ("PUT", EVENTS), ("POST", "/healthz")]
)
def test_wrong_method_is_json_405(client: TestClient, method: str, path: str) -> None:
    """A wrong method is 405 with Allow and a JSON error."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["error"] == "method_not_allowed"


def test_unexpected_error_is_503_not_500(
    monkeypatch: pytest.MonkeyPatch, settings: Any, logs: pytest.LogCaptureFixture
) -> None:
    """A bug in a handler is logged and answered 503 without detail, never 500."""

    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(NccoBuilder, "build_answer_ncco", broken)
    with TestClient(create_app(settings)) as client:
        response = answer(client, ANSWER_PARAMS)
        samples = metric_samples(client)
    assert response.status_code == 503
    assert response.json() == {"error": "internal_error", "detail": "unexpected error"}
    assert "secret internals" not in response.text
    assert any(r.getMessage() == "unexpected error" for r in logs.records)
    key = frozenset({("route", ANSWER), ("method", "POST"), ("status", "503")})
    assert samples[("webhooks_requests_total", key)] == 1
