"""``python -m bench``: every measurement of issue 6 in one run, written to bench/RESULTS.md.

Servers, Caddy and the webhooks run on one core, the simulator on the other
(:func:`bench.procs.cores`). Everything started listens on 127.0.0.1 and is
stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from itertools import product
from pathlib import Path
from types import FrameType
from typing import TypeVar

from rich.console import Console

from bench.caddy_proxy import BASELINE, VARIANTS, CaddyVariant
from bench.load import IDLE_PERCENT, LoadPlan, wait_idle
from bench.procs import BenchError, Processes, cores
from bench.report import Results, render
from bench.runs import REPO, Row, measure_direct, measure_stack, measure_via_caddy
from bench.servers import Server, ServerKind, node_available, start_server
from bench.webhooks_rate import measure_webhooks

SECTIONS = ("direct", "caddy", "variants", "webhooks")
console = Console(stderr=True)
T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    """Options; ``--quick`` and ``--smoke`` set shorter defaults."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--calls", default="200,500", help="concurrent calls per run, e.g. 200,500")
    parser.add_argument("--seconds", type=float, help="audio per call (default 20; --quick 8)")
    parser.add_argument("--ramp", type=float, help="seconds over which calls start (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="simulator worker processes")
    parser.add_argument(
        "--variant-seconds", type=float, help="audio per call of each Caddy-setting run"
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, same rows")
    parser.add_argument(
        "--smoke", action="store_true", help="a few calls, ~2 s each: checks it works, not speed"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=SECTIONS, help="leave a section out"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        help="seconds to wait, before each measurement, for other load on the machine to stop"
        " (default 300; --smoke 0)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--log-dir", type=Path, help="process logs (default: a temporary folder)")
    return parser


def _plan(args: argparse.Namespace) -> tuple[list[int], float, float, float]:
    """(calls, seconds, ramp, variant seconds) from the options."""
    if args.smoke:
        calls, seconds, ramp, variant = [4], 2.0, 0.2, 2.0
    else:
        calls = [int(c) for c in args.calls.split(",") if c.strip()]
        seconds = 8.0 if args.quick else 20.0
        ramp, variant = 2.0, (6.0 if args.quick else 10.0)
    seconds = args.seconds or seconds
    ramp = args.ramp if args.ramp is not None else ramp
    return calls, seconds, ramp, args.variant_seconds or variant


@dataclass(frozen=True)
class Bench:
    """One run's processes, cores and plan."""

    procs: Processes
    server_cpus: set[int]
    load_cpus: set[int]
    ramp: float
    workers: int
    state: Path

    def plan(self, calls: int, seconds: float) -> LoadPlan:
        """A load run of ``calls`` calls of ``seconds`` each."""
        return LoadPlan(calls, seconds, min(self.ramp, seconds), self.workers, self.load_cpus)

    def direct(self, kind: ServerKind, calls: int, seconds: float) -> Row:
        """A fresh server, calls straight to it."""
        return measure_direct(self.procs, kind, self.plan(calls, seconds), self.server_cpus)

    def via_caddy(self, kind: ServerKind, calls: int, seconds: float) -> Row:
        """A fresh server behind a Caddy with the project's settings."""
        server = start_server(self.procs, kind, self.server_cpus)
        try:
            return self.variant(server, BASELINE, calls, seconds)
        finally:
            self.procs.stop(server.process)

    def variant(self, server: Server, variant: CaddyVariant, calls: int, seconds: float) -> Row:
        """A running server behind a fresh Caddy of ``variant``."""
        return measure_via_caddy(
            self.procs,
            server,
            variant=variant,
            plan=self.plan(calls, seconds),
            server_cpus=self.server_cpus,
            state=self.state,
        )


def run(args: argparse.Namespace, argv: Sequence[str], log_dir: Path) -> Results:
    """Every section; the results."""
    calls, seconds, ramp, variant_seconds = _plan(args)
    server_cpus, load_cpus = cores()
    os.sched_setaffinity(0, load_cpus)  # the bench's own sampling stays off the server core
    kinds = [ServerKind.AUDIO_SOCKET, ServerKind.NODE, ServerKind.MINIMAL]
    if not node_available():
        console.print("[yellow]Node peer unavailable (node, npm or its script): skipped")
        kinds.remove(ServerKind.NODE)
    results = Results(argv, server_cpus, load_cpus, seconds)
    wait = args.wait_idle if args.wait_idle is not None else (0.0 if args.smoke else 300.0)
    with Processes(log_dir) as procs:
        bench = Bench(procs, server_cpus, load_cpus, ramp, args.workers, log_dir / "caddy")
        if "direct" not in args.skip:
            for n, kind in product(calls, kinds):
                title = f"{kind.value}, {n} calls, direct"
                results.direct.append(_step(title, partial(bench.direct, kind, n, seconds), wait))
        if "caddy" not in args.skip:
            for n, kind in product(calls, kinds[:2]):
                title = f"{kind.value}, {n} calls, via Caddy"
                results.caddy.append(_step(title, partial(bench.via_caddy, kind, n, seconds), wait))
            for n in calls:
                stack = partial(
                    measure_stack, procs, bench.plan(n, seconds), server_cpus, log_dir / "stack"
                )
                results.caddy.append(_step(f"the local stack, {n} calls", stack, wait))
        if "variants" not in args.skip:
            server = start_server(procs, ServerKind.AUDIO_SOCKET, server_cpus)
            for variant in VARIANTS:
                title = f"Caddy: {variant.name}, {calls[0]} calls"
                measure = partial(bench.variant, server, variant, calls[0], variant_seconds)
                results.variants.append(_step(title, measure, wait))
            procs.stop(server.process)
        if "webhooks" not in args.skip:
            hook_seconds = 1.0 if args.smoke else min(seconds, 10.0)
            measure_hooks = partial(measure_webhooks, procs, server_cpus, hook_seconds)
            results.webhooks = _step(
                "webhooks: answer throughput, p99 at 200/s", measure_hooks, wait
            )
    return results


def _step(title: str, measure: Callable[[], T], wait: float = 0.0) -> T:
    if wait > 0:
        with console.status(f"[bold]waiting for the machine to be idle before: {title}"):
            busy = wait_idle(wait)
        if busy >= IDLE_PERCENT:
            console.print(f"[yellow]other processes use {busy:.0f} % of a core: measuring anyway")
    started = time.monotonic()
    with console.status(f"[bold]{title}"):
        result = measure()
    summary = ""
    if isinstance(result, Row):
        summary = (
            f"p50 {result.rtt_p50_ms} / p99 {result.rtt_p99_ms} ms,"
            f" {result.server_us_per_frame or 0:.1f} µs/frame, lost {result.frames_lost}"
        )
        if result.caddy_us_per_frame is not None:
            summary += f", Caddy {result.caddy_us_per_frame:.1f} µs/frame"
    console.print(f"[green]✓[/] {title} ({time.monotonic() - started:.0f} s) {summary}")
    return result


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench and write the results; the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        log_dir = args.log_dir or Path(scratch)
        try:
            results = run(args, ["python", "-m", "bench", *argv], log_dir)
        except BenchError as exc:
            console.print(f"[red]bench: {exc}")
            return 1
        except KeyboardInterrupt:
            console.print("[red]bench: interrupted; every process it started is stopped")
            return 130
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results))
    raw = args.out.with_suffix(".json")
    raw.write_text(json.dumps(asdict(results), default=_jsonable, indent=1) + "\n")
    console.print(f"wrote {args.out} and {raw}")
    return 0


def _jsonable(value: object) -> object:
    if isinstance(value, set):
        return sorted(value)
    return str(value)
