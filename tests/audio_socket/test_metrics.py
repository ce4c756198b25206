"""Metrics: per-call counters summed at scrape time, outcomes pre-bound."""

from __future__ import annotations

from dataclasses import dataclass

from audio_socket.errors import Outcome
from audio_socket.metrics import CallStats, Metrics


@dataclass
class Stats:
    """A call's counters, as SocketCall keeps them."""

    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    dtmf_events: int = 0


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    """One sample of the registry."""
    return metrics.registry.get_sample_value(name, labels)


def test_every_outcome_is_exported_from_the_start() -> None:
    """All outcome series exist at 0 before any call, so rates work at once."""
    metrics = Metrics(list, max_calls=500)
    for outcome in Outcome:
        assert sample(metrics, "audio_calls_total", outcome=outcome.value) == 0


def test_traffic_adds_live_calls_to_ended_ones() -> None:
    """Totals are ended calls' counters plus the live calls' current ones."""
    live: list[CallStats] = []
    metrics = Metrics(lambda: live, max_calls=500)
    ended = Stats(frames_in=10, bytes_in=6400, frames_out=9, bytes_out=5760, dtmf_events=1)
    metrics.record_call_end(ended)
    live.append(Stats(frames_in=5, bytes_in=3200, frames_out=5, bytes_out=3200))
    assert sample(metrics, "audio_frames_received_total") == 15
    assert sample(metrics, "audio_bytes_received_total") == 9600
    assert sample(metrics, "audio_frames_sent_total") == 14
    assert sample(metrics, "audio_bytes_sent_total") == 8960
    assert sample(metrics, "audio_dtmf_events_total") == 1
    assert sample(metrics, "audio_calls_active") == 1


def test_the_call_limit_is_exported() -> None:
    """MAX_CALLS as a gauge, beside the live count it bounds."""
    metrics = Metrics(list, max_calls=123)
    assert sample(metrics, "audio_calls_max") == 123


def test_outcomes_handshakes_and_draining() -> None:
    """Outcomes count, handshakes observe, the draining gauge follows its flag."""
    metrics = Metrics(list, max_calls=500)
    metrics.record_outcome(Outcome.REJECTED_CREDENTIAL)
    metrics.record_handshake(0.004)
    metrics.draining = True
    assert sample(metrics, "audio_calls_total", outcome="rejected_credential") == 1
    assert sample(metrics, "audio_handshake_seconds_count") == 1
    assert sample(metrics, "audio_draining") == 1
    assert b"audio_calls_active 0.0" in metrics.render()
