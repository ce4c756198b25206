"""A load run's live progress and its summary (rich on stderr, the table or JSON on stdout)."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from simulator.reports.call_report import CallReport, Floats, percentiles

# The simulator's own target: it keeps its calls on schedule with p99 lateness under 5 ms.
LATENESS_LIMIT_MS = 5.0


@dataclass
class Progress:
    """One worker's state, sent twice a second."""

    active: int = 0
    done: int = 0
    failed: int = 0
    sent: int = 0
    received: int = 0
    reconnects: int = 0
    late_p99_ms: float = 0.0


@dataclass
class WorkerResult:
    """What a load worker sends back at the end."""

    index: int
    reports: list[CallReport] = field(default_factory=list)
    error: str | None = None
    cpu_percent: float = 0.0  # of one core, from the first call's start to the last's end


@dataclass
class LoadSummary:
    """The figures of a load run."""

    calls: int
    calls_passed: int
    calls_failed: int
    workers: int
    wall_s: float
    frames_sent: int
    frames_received: int
    frames_lost: int
    frames_lost_outside_gaps: int
    round_trip_ms: dict[str, float]
    send_lateness_ms: dict[str, float]
    worker_lateness_p99_ms: list[float]
    worker_cpu_percent: list[float]
    slipped: bool
    reconnects: int
    reconnect_gap_ms: dict[str, float]
    answer_ms: dict[str, float]
    errors: dict[str, int]
    #: The workers' event loop: ``uvloop`` or ``asyncio``.
    event_loop: str = "asyncio"
    #: Binary messages back that were not one 20 ms frame (counted under
    #: --lenient-frames; else each closed its socket), and [first size, expected].
    wrong_size: int = 0
    wrong_size_first: list[int] | None = None


def summarize(
    results: list[WorkerResult], calls: int, wall: float, workers: int, loop: str = "asyncio"
) -> LoadSummary:
    """Add up every call of every worker."""
    reports = [r for w in results for r in w.reports]
    errors = Counter(r.error for r in reports if r.error)
    errors.update(f"worker {w.index}: {w.error}" for w in results if w.error)
    late = [np.asarray(r.lateness_ms, np.float64) for r in reports]
    per_worker = [
        np.concatenate([np.asarray(r.lateness_ms, np.float64) for r in w.reports] or [np.zeros(0)])
        for w in results
    ]
    lateness = percentiles(np.concatenate(late or [np.zeros(0)]))
    gaps = [g.gap_ms for r in reports for g in r.reconnects if g.gap_ms is not None]
    answers = [e["ms"] for r in reports for e in r.events if e["kind"] == "answer"]
    passed = sum(r.passed for r in reports)
    return LoadSummary(
        calls=calls,
        calls_passed=passed,
        calls_failed=calls - passed,
        workers=workers,
        wall_s=round(wall, 2),
        frames_sent=sum(r.frames.sent for r in reports),
        frames_received=sum(r.frames.received for r in reports),
        frames_lost=sum(r.frames.lost for r in reports),
        frames_lost_outside_gaps=sum(r.frames.lost_outside_gaps for r in reports),
        round_trip_ms=percentiles(round_trips(reports)),
        send_lateness_ms=lateness,
        worker_lateness_p99_ms=[
            round(float(np.percentile(w, 99)), 2) if w.size else 0.0 for w in per_worker
        ],
        worker_cpu_percent=[w.cpu_percent for w in results],
        slipped=lateness.get("p99", 0.0) >= LATENESS_LIMIT_MS,
        reconnects=sum(len(r.reconnects) for r in reports),
        reconnect_gap_ms=percentiles(np.array(gaps, np.float64)),
        answer_ms=percentiles(np.array(answers, np.float64)),
        errors=dict(errors.most_common(5)),
        event_loop=loop,
        wrong_size=sum(r.wrong_size for r in reports),
        wrong_size_first=next((r.wrong_size_first for r in reports if r.wrong_size_first), None),
    )


def round_trips(reports: list[CallReport]) -> Floats:
    """Every frame's round trip (ms) of every call: the table's and the plot's sample."""
    return np.concatenate([np.asarray(r.rtt_ms, np.float64) for r in reports] or [np.zeros(0)])


@contextmanager
def render_progress(
    args: argparse.Namespace,
) -> Iterator[Callable[[dict[int, Progress], float | None], None]]:
    """A live display on stderr; yields ``show(progress, started_at)``."""
    console = Console(stderr=True)
    live = Live(Text("starting workers..."), console=console, refresh_per_second=4, transient=True)

    def show(progress: dict[int, Progress], started_at: float | None) -> None:
        if started_at is None:
            live.update(Text(f"starting {_workers(args.workers)}..."))
            return
        total = Progress()
        for p in progress.values():
            for name in ("active", "done", "failed", "sent", "received", "reconnects"):
                setattr(total, name, getattr(total, name) + getattr(p, name))
        late = max((p.late_p99_ms for p in progress.values()), default=0.0)
        live.update(_progress_table(args, total, late, time.monotonic() - started_at))

    with live:
        yield show


def _progress_table(
    args: argparse.Namespace, total: Progress, late: float, elapsed: float
) -> Group:
    table = Table(box=None, show_header=True, header_style="bold")
    for column in (
        "calls active",
        "done",
        "failed",
        "frames out",
        "frames in",
        "reconnects",
        "sent late p99 (last 0.5 s)",
    ):
        table.add_column(column, justify="right")
    style = "bold red" if late >= LATENESS_LIMIT_MS else "green"
    table.add_row(
        f"{total.active}/{args.calls}",
        str(total.done),
        Text(str(total.failed), style="red" if total.failed else ""),
        f"{total.sent:,}",
        f"{total.received:,}",
        str(total.reconnects),
        Text(f"{late:.2f} ms", style=style),
    )
    title = Text(
        f"load {args.base_url}: {args.calls} calls, {_workers(args.workers)}, {elapsed:.0f} s"
    )
    return Group(title, table)


def render_summary(summary: LoadSummary, *, as_json: bool) -> None:
    """The summary: a table (and a loud warning when the simulator slipped), or JSON."""
    if as_json:
        print(json.dumps(asdict(summary)))
        return
    console = Console()
    table = Table(title="load summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows: list[tuple[str, Any]] = [
        (
            "calls",
            f"{summary.calls_passed} passed, {summary.calls_failed} failed of {summary.calls}",
        ),
        (
            "frames",
            f"sent {summary.frames_sent:,}, received {summary.frames_received:,}, "
            f"lost {summary.frames_lost:,} ({summary.frames_lost_outside_gaps:,} outside gaps)",
        ),
        ("round trip ms", _pct(summary.round_trip_ms)),
        ("answer webhook ms", _pct(summary.answer_ms)),
        ("reconnects", f"{summary.reconnects} (gap ms {_pct(summary.reconnect_gap_ms) or '-'})"),
        ("simulator sent late ms", _pct(summary.send_lateness_ms)),
        ("per worker p99 ms", ", ".join(f"{v:.2f}" for v in summary.worker_lateness_p99_ms)),
        ("per worker CPU %", ", ".join(f"{v:.0f}" for v in summary.worker_cpu_percent)),
        (
            "wall time",
            f"{summary.wall_s:.1f} s, {_workers(summary.workers)} on {summary.event_loop}",
        ),
    ]
    if summary.wrong_size_first is not None:
        size, expected = summary.wrong_size_first
        rows.append(
            (
                "wrong-size messages",
                f"{summary.wrong_size:,} (the first {size} bytes; one 20 ms frame is {expected})",
            )
        )
    for name, value in rows:
        table.add_row(name, value)
    for error, count in summary.errors.items():
        table.add_row(Text("error", style="red"), f"{count} x {error}")
    console.print(table)
    if summary.slipped:
        p99 = summary.send_lateness_ms.get("p99", 0.0)
        console.print(
            Text(
                f"SIMULATOR SLIPPED: its own send lateness p99 is {p99:.1f} ms (limit "
                f"{LATENESS_LIMIT_MS:g} ms). These figures measure the simulator, not the "
                "server: use more --workers, fewer --calls, or a longer --ramp.",
                style="bold white on red",
            )
        )


def _pct(values: dict[str, float]) -> str:
    if not values:
        return ""
    return " / ".join(f"{k} {v:.1f}" for k, v in values.items())


def _workers(count: int) -> str:
    """``1 worker``, ``4 workers``."""
    return f"{count} worker{'s' if count != 1 else ''}"
