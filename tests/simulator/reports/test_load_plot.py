"""``load --plot``: log axes, the table's percentiles, a title, round trips over time."""

from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.errors import UsageError
from simulator.reports.call_report import CallReport
from simulator.reports.load_plot import draw_round_trips, plot_round_trips
from simulator.reports.load_report import WorkerResult, summarize
from tests.simulator.reports.records import passing_report

ARGS = argparse.Namespace(
    base_url="https://localhost:8443", seconds=20.0, ramp=2.0, calls=8, workers=2
)


def _reports() -> list[CallReport]:
    """Eight calls of 1,000 frames over 20 s, a tail of slow frames at 12 s."""
    rng = np.random.default_rng(7)
    reports = []
    for _ in range(8):
        report = passing_report()
        at = np.sort(rng.uniform(0, 20, 1000))
        rtt = rng.lognormal(np.log(0.7), 0.3, 1000)
        rtt[(at > 12) & (at < 13)] *= 30
        report.rtt_ms, report.rtt_at_s = rtt.astype(np.float32), at.astype(np.float32)
        reports.append(report)
    return reports


def _texts_overlap(figure: Any, artists: list[Any]) -> bool:
    renderer = figure.canvas.get_renderer()
    shown = [a for a in artists if not hasattr(a, "get_text") or a.get_text()]
    boxes = [a.get_window_extent(renderer) for a in shown]
    return any(a.overlaps(b) for a, b in combinations(boxes, 2))


def test_plot_panels_use_log_axes_and_the_tables_figures() -> None:
    """Three panels; percentile marks are the summary's own p50/p90/p99; labels apart."""
    reports = _reports()
    summary = summarize([WorkerResult(0, reports[:4]), WorkerResult(1, reports[4:])], 8, 21, 2)
    figure = draw_round_trips(reports, summary, ARGS)
    histogram, curve, timeline = figure.axes
    assert histogram.get_xscale() == curve.get_yscale() == timeline.get_yscale() == "log"
    legend = [t.get_text() for t in curve.get_legend().get_texts()]
    table = summary.round_trip_ms
    assert legend == [f"{p} {table[p]:.2f} ms" for p in ("p50", "p90", "p99", "max")]
    title = figure.get_suptitle()
    assert "https://localhost:8443: 8 calls x 20 s, ramp 2 s, 2 workers" in title
    assert "8 passed, 0 failed" in title
    assert timeline.get_title() == "Round trip over time (per 1 s)"
    p99_over_time = timeline.get_lines()[2].get_ydata()
    assert max(p99_over_time) > 10 * min(p99_over_time)  # the slow second shows
    figure.canvas.draw()
    for axes in (histogram, curve, timeline):
        assert not _texts_overlap(figure, axes.get_xticklabels())
    assert not _texts_overlap(figure, [curve.title, curve.get_legend(), timeline.get_legend()])


def test_plot_of_a_run_without_round_trips(tmp_path: Path) -> None:
    """No frame came back: the PNG is still drawn, saying so."""
    summary = summarize([WorkerResult(0, error="boom")], 1, 1.0, 1)
    plot_round_trips([], summary, ARGS, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unwritable_plot_path_is_a_usage_error(tmp_path: Path) -> None:
    """A folder that does not exist: exit 2's error, naming the path."""
    reports = _reports()
    summary = summarize([WorkerResult(0, reports)], 8, 21, 1)
    with pytest.raises(UsageError, match="cannot write --plot"):
        plot_round_trips(reports, summary, ARGS, tmp_path / "missing" / "rtt.png")
