"""Prometheus metrics of the webhooks service, in a registry of its own per app.

Every label value comes from a closed set, so hostile input cannot grow the series.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from webhooks.events import CallStatus, Reply

__all__ = ["CONTENT_TYPE", "ROUTES", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
ROUTES = frozenset({"/webhooks/answer", "/webhooks/events", "/healthz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST"})
_STATUSES = frozenset(CallStatus)
# Answers are expected in milliseconds (Vonage waits ~5 s at most, docs/vonage-protocol.md §1).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class Metrics:
    """Requests by route and status, latency, events by status, reconnects, apologies."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "webhooks_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "webhooks_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "webhooks_events",
            "Call events received, by status.",
            ["status"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "webhooks_reconnects",
            "Reconnect NCCOs issued for a failed or closed audio socket.",
            registry=self.registry,
        )
        self.apologies = Counter(
            "webhooks_apologies",
            "Apology NCCOs issued once the reconnect attempts were used up.",
            registry=self.registry,
        )

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency."""
        route = path if path in ROUTES else "other"
        method = method if method in _METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_event(self, status: str | None, reply: Reply) -> None:
        """Count one call event and, when one was sent, the NCCO it got back."""
        if status is None:
            label = "none"
        elif status in _STATUSES:
            label = status
        else:
            label = "other"
        self.events.labels(label).inc()
        if reply is Reply.RECONNECT:
            self.reconnects.inc()
        elif reply is Reply.APOLOGY:
            self.apologies.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
