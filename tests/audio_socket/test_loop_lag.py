"""The event loop's lag on /metrics, and metrics a handler registers beside the service's."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Counter

from audio_socket import handler_metrics
from audio_socket.loop_lag import LoopLagProbe
from tests.audio_socket.helpers import http_get, running


async def test_a_blocked_loop_is_measured() -> None:
    """A 250 ms block of the loop shows as a lag of at least 100 ms; then it is back."""
    lags: list[float] = []
    three = asyncio.Event()

    def observe(lag: float) -> None:
        lags.append(lag)
        if len(lags) >= 3:
            three.set()

    probe = LoopLagProbe(observe)
    probe.start()
    try:
        time.sleep(0.25)  # noqa: ASYNC251 - the block under test
        await asyncio.wait_for(three.wait(), 10)
    finally:
        probe.stop()
    assert max(lags) >= 0.1
    assert min(lags) < 0.1  # an idle loop is not late by that much


async def test_metrics_show_the_lag_and_a_handlers_own() -> None:
    """/metrics carries audio_event_loop_lag_seconds and a metric in handler_metrics."""
    turns = Counter("test_handler_turns", "Turns a test handler took.", registry=handler_metrics)
    try:
        turns.inc()
        async with running() as server:
            text = ""
            while "audio_event_loop_lag_seconds_count 0.0" in text or not text:
                _, _, body = await http_get(server.port, "/metrics")
                text = body.decode()
        assert "audio_event_loop_lag_seconds_count" in text
        assert "test_handler_turns_total 1.0" in text
    finally:
        handler_metrics.unregister(turns)
