"""A load run's summary: every worker's calls added up, its own lateness judged."""

from __future__ import annotations

import pytest

from simulator.reports.load_report import LATENESS_LIMIT_MS, WorkerResult, summarize
from tests.simulator.reports.records import passing_report


def test_summary_flags_a_slipped_simulator() -> None:
    """p99 send lateness at or over 5 ms marks the run as slipped."""
    on_time = summarize([WorkerResult(0, [passing_report(late=0.001)])], 1, 1.0, 1)
    assert not on_time.slipped
    assert on_time.calls_passed == 1
    slow = summarize([WorkerResult(0, [passing_report(late=LATENESS_LIMIT_MS / 1000)])], 1, 1.0, 1)
    assert slow.slipped
    assert slow.worker_lateness_p99_ms == [pytest.approx(5.0, abs=0.01)]


def test_summary_counts_missing_calls_as_failed() -> None:
    """A worker that died counts its calls as failed and names the error."""
    summary = summarize([WorkerResult(0, error="boom")], 3, 1.0, 1)
    assert summary.calls_failed == 3
    assert summary.errors == {"worker 0: boom": 1}
