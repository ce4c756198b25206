"""``load --plot``: the run's round trips as one PNG, three panels under a title.

* the distribution: a histogram on log-spaced bins, both axes logarithmic;
* by percentile: the round trip against the "nines" (50, 90, 99, 99.9, ...), on a
  log scale, so that the median and the tail are both readable; p50, p90 and p99
  are the summary table's own figures (the same sample, the same ``percentiles``);
* over time: per time slice p50, p90, p99 and max, to show when a tail happened
  (a ramp, a reconnect, the simulator slipping).

Values go in legends, not next to the points, so that no two labels overlap.
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from simulator.errors import UsageError
from simulator.reports.call_report import CallReport, Floats
from simulator.reports.load_report import LoadSummary, round_trips

__all__ = ["draw_round_trips", "plot_round_trips"]

#: The smallest round trip drawn (ms): a log axis has no 0.
FLOOR_MS: Final = 1e-3
#: At most this many time slices in the over-time panel (1 s each, or wider).
MAX_SLICES: Final = 300
#: The nines marked on the percentile axis.
NINES: Final = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)
MARKS: Final = ("p50", "p90", "p99")


def plot_round_trips(
    reports: list[CallReport], summary: LoadSummary, args: argparse.Namespace, path: Path
) -> None:
    """Draw the run's round trips to ``path`` (PNG)."""
    figure = draw_round_trips(reports, summary, args)
    try:
        figure.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"cannot write --plot {path}: {exc.strerror}") from exc


def draw_round_trips(
    reports: list[CallReport], summary: LoadSummary, args: argparse.Namespace
) -> Any:
    """The figure (a matplotlib ``Figure``) of :func:`plot_round_trips`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (slow import)
    from matplotlib.figure import Figure  # noqa: PLC0415

    rtt = np.maximum(round_trips(reports), FLOOR_MS)
    at = np.concatenate([np.asarray(r.rtt_at_s, np.float64) for r in reports] or [np.zeros(0)])
    figure = Figure(figsize=(16, 5.2), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(_title(summary, args), fontsize=10)
    histogram, curve, timeline = figure.subplots(1, 3)
    if rtt.size:
        _histogram(histogram, rtt)
        _percentile_curve(curve, rtt, summary.round_trip_ms)
        _over_time(timeline, at, rtt)
    else:
        for axes in (histogram, curve, timeline):
            axes.text(0.5, 0.5, "no round trips", ha="center", transform=axes.transAxes)
    return figure


def _title(summary: LoadSummary, args: argparse.Namespace) -> str:
    seconds = "" if args.seconds is None else f" x {args.seconds:g} s"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"simulator load {args.base_url}: {summary.calls} calls{seconds}, ramp {args.ramp:g} s,"
        f" {summary.workers} worker{'s' if summary.workers != 1 else ''} on"
        f" {summary.event_loop} ({when})",
        f"{summary.calls_passed} passed, {summary.calls_failed} failed;"
        f" {summary.frames_sent:,} frames sent, {summary.frames_received:,} back;"
        f" simulator sent late p99 {summary.send_lateness_ms.get('p99', 0.0):.2f} ms",
    ]
    if summary.slipped:
        lines.append("SIMULATOR SLIPPED: these figures measure the simulator, not the server")
    return "\n".join(lines)


def _histogram(axes: Any, rtt: Floats) -> None:
    low, high = float(rtt.min()), float(rtt.max())
    bins = np.geomspace(low, high if high > low else low * 1.01, 80)
    axes.hist(rtt, bins=bins, log=True)
    axes.set_xscale("log")
    axes.set(
        title=f"Round trip per frame ({rtt.size:,} frames)",
        xlabel="round trip (ms, log scale)",
        ylabel="frames (log scale)",
    )


def _nines(percent: Floats | float) -> Any:
    """The percentile axis: 90 % is 1, 99 % is 2, 99.9 % is 3 ..."""
    return -np.log10(1 - np.asarray(percent) / 100)


def _percentile_curve(axes: Any, rtt: Floats, table: dict[str, float]) -> None:
    top = 100 * (1 - 1 / (rtt.size + 1))  # the highest percentile the sample resolves
    percents = 100 - np.geomspace(100, 100 - top, 400)
    axes.plot(_nines(percents), np.percentile(rtt, percents), linewidth=1.2)
    for mark, style in zip(MARKS, ("o", "s", "D"), strict=True):
        value = table[mark]
        axes.plot(
            _nines(float(mark[1:])),
            max(value, FLOOR_MS),
            style,
            label=f"{mark} {value:.2f} ms",
        )
    axes.axhline(table["max"], linestyle=":", linewidth=0.8, label=f"max {table['max']:.2f} ms")
    shown = [n for n in NINES if n <= top] or [NINES[0]]
    axes.set_xticks(_nines(np.array(shown)), [f"{n:g}" for n in shown])
    axes.set_xlim(0, float(_nines(top)) * 1.02)
    _headroom(axes, table["max"])
    axes.legend(loc="upper left", fontsize=8)
    axes.set(
        title="Round trip by percentile (as in the table)",
        xlabel="percentile",
        ylabel="round trip (ms, log scale)",
    )


def _over_time(axes: Any, at: Floats, rtt: Floats) -> None:
    start = float(at.min())
    span = float(at.max()) - start
    width = max(1.0, math.ceil(span / MAX_SLICES))
    slices = ((at - start) // width).astype(np.int64)
    order = np.argsort(slices, kind="stable")
    slices, values = slices[order], rtt[order]
    bounds = np.flatnonzero(np.diff(slices)) + 1
    groups = np.split(values, bounds)
    times = start + (slices[np.r_[0, bounds]] + 0.5) * width
    rows = np.array([[*np.percentile(g, [50, 90, 99]), g.max()] for g in groups])
    for column, name in enumerate(("p50", "p90", "p99", "max")):
        axes.plot(times, rows[:, column], label=name, linewidth=0.8 if name == "max" else 1.2)
    _headroom(axes, float(rows[:, 3].max()))
    axes.legend(loc="upper left", fontsize=8, ncols=4)
    axes.set(
        title=f"Round trip over time (per {width:g} s)",
        xlabel="seconds into the run (when the frame left)",
        ylabel="round trip (ms, log scale)",
    )


def _headroom(axes: Any, highest: float) -> None:
    """A log y axis with room above the highest line for the legend."""
    axes.set_yscale("log")
    axes.set_ylim(top=max(highest, FLOOR_MS) * 12)
