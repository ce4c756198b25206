"""Prometheus metrics of the audio service, served on ``/metrics``.

Per-frame counts cost nothing on the hot path: each call keeps plain integer
counters, and the collector adds the live calls' counts to the totals of ended
calls when Prometheus scrapes. Only per-call events (an outcome, a handshake
time) touch ``prometheus_client`` objects, through pre-bound children.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from audio_socket.errors import Outcome
from audio_socket.loop_lag import LAG_BUCKETS
from audio_socket.registry import handler_metrics

HANDSHAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CallStats(Protocol):
    """The per-call counters a live call exposes."""

    @property
    def frames_in(self) -> int:
        """Binary messages received."""
        ...

    @property
    def bytes_in(self) -> int:
        """Their bytes."""
        ...

    @property
    def frames_out(self) -> int:
        """Audio frames sent."""
        ...

    @property
    def bytes_out(self) -> int:
        """Their bytes."""
        ...

    @property
    def dtmf_events(self) -> int:
        """DTMF key presses received."""
        ...


@dataclass(slots=True)
class Totals:
    """Counters summed over calls that have ended."""

    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    dtmf_events: int = 0

    def add(self, stats: CallStats) -> None:
        """Fold an ended call's counters in."""
        self.frames_in += stats.frames_in
        self.bytes_in += stats.bytes_in
        self.frames_out += stats.frames_out
        self.bytes_out += stats.bytes_out
        self.dtmf_events += stats.dtmf_events


_TRAFFIC = (
    ("frames_in", "audio_frames_received", "Binary audio messages received from callers."),
    ("bytes_in", "audio_bytes_received", "Audio bytes received from callers."),
    ("frames_out", "audio_frames_sent", "Audio frames sent to callers."),
    ("bytes_out", "audio_bytes_sent", "Audio bytes sent to callers."),
    ("dtmf_events", "audio_dtmf_events", "DTMF key presses received."),
)


class Metrics:
    """The service's registry and the few operations the server needs."""

    def __init__(self, live_calls: Callable[[], Collection[CallStats]], *, max_calls: int) -> None:
        self.registry = CollectorRegistry()
        self.draining = False
        self._live_calls = live_calls
        self._max_calls = max_calls
        self._ended = Totals()
        calls = Counter(
            "audio_calls",
            "Calls and upgrade attempts by how they ended.",
            ["outcome"],
            registry=self.registry,
        )
        self._outcomes = {outcome: calls.labels(outcome.value) for outcome in Outcome}
        self._handshake = Histogram(
            "audio_handshake_seconds",
            "TCP accept to accepted websocket:connected message.",
            buckets=HANDSHAKE_BUCKETS,
            registry=self.registry,
        )
        self._voice_api = Counter(
            "audio_voice_api_requests",
            "Handlers' Voice REST API requests (hangup, transfer, say, send_dtmf) by outcome:"
            " ok, http_4xx, http_5xx, timeout, unreachable, busy (MAX_PENDING reached).",
            ["request", "outcome"],
            registry=self.registry,
        )
        self._loop_lag = Histogram(
            "audio_event_loop_lag_seconds",
            "How late the event loop ran a timer, every 0.1 s: what every call's frames"
            " wait behind when a handler blocks the loop.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_CallCollector(self))
        ProcessCollector(registry=self.registry)

    def record_outcome(self, outcome: Outcome) -> None:
        """Count one call or upgrade attempt that ended with ``outcome``."""
        self._outcomes[outcome].inc()

    def record_voice_api(self, request: str, outcome: str) -> None:
        """Count one REST request of a handler's call control (audio_socket/voice_api.py)."""
        self._voice_api.labels(request, outcome).inc()

    def record_handshake(self, seconds: float) -> None:
        """Observe one completed handshake."""
        self._handshake.observe(seconds)

    def record_loop_lag(self, seconds: float) -> None:
        """Observe one probe of the event loop's lag (audio_socket/loop_lag.py)."""
        self._loop_lag.observe(seconds)

    def record_call_end(self, stats: CallStats) -> None:
        """Move an ended call's counters into the totals."""
        self._ended.add(stats)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry) + generate_latest(handler_metrics)

    def collect_calls(self) -> Iterator[Metric]:
        """Live gauges, and traffic totals including the calls still live."""
        live = self._live_calls()
        yield GaugeMetricFamily("audio_calls_active", "Calls in progress.", value=len(live))
        # The limit beside the count, so an alert on "near MAX_CALLS" needs no copy of it.
        yield GaugeMetricFamily(
            "audio_calls_max", "MAX_CALLS: calls this replica admits.", value=self._max_calls
        )
        yield GaugeMetricFamily(
            "audio_draining", "1 while the replica drains.", value=int(self.draining)
        )
        for attribute, name, documentation in _TRAFFIC:
            total = getattr(self._ended, attribute) + sum(getattr(call, attribute) for call in live)
            yield CounterMetricFamily(name, documentation, value=total)


class _CallCollector:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.collect_calls()
