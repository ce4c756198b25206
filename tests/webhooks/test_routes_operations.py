"""Health and metrics: /healthz before and after start, and what /metrics counts."""

from __future__ import annotations

from typing import Any

from tests.webhooks.conftest import (
    CALL_UUID,
    TestClient,
)
from tests.webhooks.helpers import (
    ANSWER,
    ANSWER_PARAMS,
    EVENTS,
    answer,
    metric_samples,
    post_json,
    socket_event,
)
from webhooks.app import create_app


def test_healthz_ok_when_started(client: TestClient) -> None:
    """/healthz is 200 {"status": "ok"} once the app has started."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_503_before_start(settings: Any) -> None:
    """/healthz is 503 while the app has not started (lifespan not run)."""
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503


def test_metrics_count_requests_events_and_replies(client: TestClient) -> None:
    """/metrics has requests by route and status, latency, events, reconnects, apologies."""
    connect = answer(client, ANSWER_PARAMS).json()[1]
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    (connect,) = post_json(client, EVENTS, socket_event(connect, "failed")).json()
    post_json(client, EVENTS, socket_event(connect, "failed"))
    post_json(client, EVENTS, {"uuid": CALL_UUID, "status": "wild-new-status"})
    client.get("/no/such/path")
    samples = metric_samples(client)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("webhooks_requests_total", route=ANSWER, method="POST", status="200") == 1
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="200") == 3
    assert value("webhooks_requests_total", route=EVENTS, method="POST", status="204") == 1
    assert value("webhooks_requests_total", route="other", method="GET", status="404") == 1
    assert value("webhooks_request_duration_seconds_count", route=ANSWER) == 1
    assert value("webhooks_events_total", status="failed") == 3
    assert value("webhooks_events_total", status="other") == 1
    assert value("webhooks_reconnects_total") == 2
    assert value("webhooks_apologies_total") == 1
