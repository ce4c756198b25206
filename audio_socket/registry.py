"""Where a handler's own Prometheus metrics go: served on the service's ``/metrics``.

``Histogram("bot_turn_seconds", "...", registry=handler_metrics)``, made once at import:
one registry per process, like the handler. A module of its own so that importing the
handler API loads no more than prometheus_client for it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

#: A handler's metrics, rendered after the service's own on ``/metrics``.
handler_metrics = CollectorRegistry()
