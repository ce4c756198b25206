"""``python -m bench``: every measurement of the benchmark in one run, in tools/bench/RESULTS.md.

Servers, Caddy and the webhooks run on one core, the simulator on the other
(:func:`bench.procs.cores`). Everything started listens on 127.0.0.1 and is
stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import product
from pathlib import Path
from types import FrameType
from typing import Final, TypeVar

from rich.console import Console

from bench.bot import BOT_CALLS, SMOKE_CALLS, bot_missing, measure_bot
from bench.caddy_proxy import BASELINE, VARIANTS, CaddyVariant
from bench.load import IDLE_PERCENT, LoadPlan, wait_idle
from bench.procs import BenchError, Processes, cores
from bench.profile import profile_audio_socket
from bench.raw import load_results, save_results
from bench.report import Results, best_fastapi, code_version, lost_cell, machine, render
from bench.runs import (
    REPO,
    RestLoad,
    Row,
    measure_direct,
    measure_stack,
    measure_via_caddy,
)
from bench.servers import (
    FASTAPI_KINDS,
    NODE_ECHO,
    Server,
    ServerKind,
    install_node_echo,
    node_available,
    start_server,
)
from bench.sweep_plot import sweep_plot_path, write_sweep_plot
from bench.webhooks_rate import measure_webhooks

#: Seconds the simulator's REST API holds back each answer in the REST row.
REST_DELAY_S: Final = 5.0
SECTIONS = ("direct", "profile", "caddy", "stack", "rest", "variants", "webhooks", "bot")
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
    parser.add_argument(
        "--rounds",
        type=int,
        help="times each measurement is repeated, interleaved with the others; the tables"
        " show the median of the rounds (default 3; --quick and --smoke 1)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also measure how the cost grows: audio_socket, the best FastAPI variant and Node"
        " at each of --sweep-calls (its own section, off by default: it is long)",
    )
    parser.add_argument(
        "--sweep-calls", default="50,100,200,500,1000", help="the sweep's call counts"
    )
    parser.add_argument(
        "--calls-per-worker",
        type=int,
        default=250,
        help="the sweep spreads each point's calls over one simulator worker per this many"
        " calls (at least --workers)",
    )
    parser.add_argument(
        "--stack-calls",
        default="250,300",
        help="call counts at which the local stack runs besides --calls, to close in on the"
        " most calls it carries on one core with round-trip p99 under 20 ms ('' for none)",
    )
    parser.add_argument(
        "--rest-calls",
        default="100,20",
        help="the REST row: N echo calls while M more wait on REST requests, as N,M (few"
        " enough that the stack's own round trip leaves room to see them)",
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, same rows")
    parser.add_argument(
        "--smoke", action="store_true", help="a few calls, ~2 s each: checks it works, not speed"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=SECTIONS, help="leave a section out"
    )
    parser.add_argument(
        "--servers",
        type=lambda value: [name.strip().lower() for name in value.split(",") if name.strip()],
        default=[],
        help="only these servers in the direct rounds, e.g. audio_socket,coroutine"
        f" (of: {', '.join(kind.name.lower() for kind in ServerKind)})",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        help="seconds to wait, before each measurement, for other load on the machine to stop"
        " (default 300; --smoke 0)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "tools" / "bench" / "RESULTS.md")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS.json",
        help="measure nothing: write --out (and the sweep's plot) again from a run's raw rows",
    )
    parser.add_argument("--log-dir", type=Path, help="process logs (default: a temporary folder)")
    return parser


@dataclass(frozen=True)
class Plan:
    """What the options ask for."""

    calls: list[int]
    seconds: float
    ramp: float
    variant_seconds: float
    rounds: int
    sweep: list[int]
    #: The local stack's call counts: --calls and --stack-calls together.
    stack: list[int]
    rest: tuple[int, int]
    rest_seconds: float


def _plan(args: argparse.Namespace) -> Plan:
    """The plan from the options; a usage error names the bad one."""
    if args.smoke:
        calls, seconds, ramp, variant, rounds = [4], 2.0, 0.2, 2.0, 1
        sweep, rest, stack = [2, 4], (3, 2), []
    else:
        calls = _counts("--calls", args.calls)
        sweep = _counts("--sweep-calls", args.sweep_calls)
        stack = _counts("--stack-calls", args.stack_calls) if args.stack_calls.strip() else []
        rest = _rest_counts(args.rest_calls)
        seconds = 8.0 if args.quick else 20.0
        ramp, variant, rounds = 2.0, (6.0 if args.quick else 10.0), (1 if args.quick else 3)
    rounds = args.rounds if args.rounds is not None else rounds
    if not calls or min(calls) < 1:
        raise BenchError("--calls must list at least one count of 1 or more")
    if rounds < 1:
        raise BenchError("--rounds must be at least 1")
    if args.calls_per_worker < 1 or args.workers < 1:
        raise BenchError("--workers and --calls-per-worker must be at least 1")
    seconds = args.seconds or seconds
    return Plan(
        calls=calls,
        seconds=seconds,
        ramp=args.ramp if args.ramp is not None else ramp,
        variant_seconds=args.variant_seconds or variant,
        rounds=rounds,
        sweep=sweep,
        stack=sorted(set(calls) | set(stack)),
        rest=rest,
        # A request answered after 5 s must be answered within the call.
        rest_seconds=max(seconds, REST_DELAY_S + 3.0),
    )


def _counts(option: str, value: str) -> list[int]:
    """Call counts from ``50,100``; a usage error names the option."""
    try:
        counts = [int(c) for c in value.split(",") if c.strip()]
    except ValueError:
        message = f"{option} must be numbers separated by commas, not {value!r}"
        raise BenchError(message) from None
    if not counts or min(counts) < 1:
        raise BenchError(f"{option} must list at least one count of 1 or more")
    return counts


def _rest_counts(value: str) -> tuple[int, int]:
    """``N,M`` of --rest-calls."""
    counts = value.split(",")
    if len(counts) != 2 or not all(c.strip().isdigit() for c in counts):
        raise BenchError(f"--rest-calls must be two numbers N,M, not {value!r}")
    echo, rest = (int(c) for c in counts)
    if echo < 1 or rest < 1:
        raise BenchError("--rest-calls needs at least one echo call and one REST call")
    return echo, rest


@dataclass(frozen=True)
class Bench:
    """One run's processes, cores and plan."""

    procs: Processes
    server_cpus: set[int]
    load_cpus: set[int]
    ramp: float
    workers: int
    state: Path

    def plan(self, calls: int, seconds: float, workers: int | None = None) -> LoadPlan:
        """A load run of ``calls`` calls of ``seconds`` each."""
        workers = workers or self.workers
        return LoadPlan(calls, seconds, min(self.ramp, seconds), workers, self.load_cpus)

    def direct(self, kind: ServerKind, calls: int, seconds: float, workers: int = 0) -> Row:
        """A fresh server, calls straight to it (over ``workers`` simulator processes)."""
        plan = self.plan(calls, seconds, workers)
        return measure_direct(self.procs, kind, plan, self.server_cpus)

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
    plan = _plan(args)
    calls, seconds = plan.calls, plan.seconds
    rounds = range(1, plan.rounds + 1)
    server_cpus, load_cpus = cores()
    os.sched_setaffinity(0, load_cpus)  # the bench's own sampling stays off the server core
    kinds = _kinds(args.servers)
    results = Results(argv, server_cpus, load_cpus, seconds, plan.rounds)
    results.rest_delay_s = REST_DELAY_S
    wait = args.wait_idle if args.wait_idle is not None else (0.0 if args.smoke else 300.0)
    with Processes(log_dir) as procs:
        bench = Bench(procs, server_cpus, load_cpus, plan.ramp, args.workers, log_dir / "caddy")
        of = f" of {plan.rounds}" if plan.rounds > 1 else ""
        # Each round measures every server once, in turn, so that a slow spell of a
        # shared machine lands on one round of each, not on all rounds of one.
        if "direct" not in args.skip:
            for n, r, kind in product(calls, rounds, kinds):
                title = f"{kind.value}, {n} calls, direct, round {r}{of}"
                row = _step(title, partial(bench.direct, kind, n, seconds), wait)
                results.direct.append(replace(row, round=r))
        if "profile" not in args.skip:
            profile = partial(
                profile_audio_socket,
                procs,
                bench.plan(max(calls), seconds),
                server_cpus,
                log_dir / "py-spy.txt",
            )
            results.profile = _step(f"audio_socket, {max(calls)} calls, py-spy", profile, wait)
        # Caddy's rows and the stack's share rounds, so that they stay comparable.
        for n, r in product(plan.stack, rounds):
            if "caddy" not in args.skip and n in calls:
                for kind in kinds[:2]:
                    title = f"{kind.value}, {n} calls, via Caddy, round {r}{of}"
                    row = _step(title, partial(bench.via_caddy, kind, n, seconds), wait)
                    results.caddy.append(replace(row, round=r))
            if "stack" not in args.skip:
                stack = partial(
                    measure_stack, procs, bench.plan(n, seconds), server_cpus, log_dir / "stack"
                )
                row = _step(f"the local stack, {n} calls, round {r}{of}", stack, wait)
                results.caddy.append(replace(row, round=r))
        if "rest" not in args.skip:
            results.rest = _rest_rows(bench, plan, wait)
        if args.sweep:
            results.sweep = _sweep(bench, plan, results, args.calls_per_worker, wait)
            results.sweep_kinds = sorted({row.server for row in results.sweep})
        if "variants" not in args.skip:
            server = start_server(procs, ServerKind.AUDIO_SOCKET, server_cpus)
            for r, variant in product(rounds, VARIANTS):
                title = f"Caddy: {variant.name}, {calls[0]} calls, round {r}{of}"
                measure = partial(bench.variant, server, variant, calls[0], plan.variant_seconds)
                results.variants.append(replace(_step(title, measure, wait), round=r))
            procs.stop(server.process)
        if "webhooks" not in args.skip:
            hook_seconds = 1.0 if args.smoke else min(seconds, 10.0)
            measure_hooks = partial(measure_webhooks, procs, server_cpus, hook_seconds)
            results.webhooks = _step(
                "webhooks: answer throughput, p99 at 200/s", measure_hooks, wait
            )
        _bot(procs, results, args, wait)
    return results


def _bot(procs: Processes, results: Results, args: argparse.Namespace, wait: float) -> None:
    """The voice bot at 1, 4 and N callers (one with --smoke), unless skipped or not
    installed."""
    if "bot" in args.skip:
        return
    smoke = args.smoke
    results.bot_missing = bot_missing()
    if results.bot_missing is not None:
        console.print(f"[yellow]voice bot: skipped, not installed ({results.bot_missing})")
        return
    calls = SMOKE_CALLS if smoke else BOT_CALLS
    measure = partial(measure_bot, procs, calls, smoke=smoke)
    title = f"voice bot, {', '.join(map(str, calls))} caller(s), at the ear"
    results.bot = _step(title, measure, wait)


def _kinds(only: Sequence[str] = ()) -> list[ServerKind]:
    """The servers of the direct rounds (``only`` those named, by their enum names);
    Node when it can run here (npm ci first)."""
    kinds = [
        ServerKind.AUDIO_SOCKET,
        ServerKind.COROUTINE,
        ServerKind.NODE,
        ServerKind.MINIMAL,
        ServerKind.FLOOR,
        ServerKind.PROMPTS,
        *FASTAPI_KINDS,
    ]
    if only:
        kinds = [kind for kind in kinds if kind.name.lower() in only]
    if ServerKind.NODE not in kinds:
        return kinds
    if not node_available():
        console.print("[yellow]Node peer unavailable (node or npm not on PATH): skipped")
        kinds.remove(ServerKind.NODE)
    else:
        console.print(f"Node peer: npm ci in {NODE_ECHO} when its lock file changed")
        install_node_echo()
    return kinds


def _rest_rows(bench: Bench, plan: Plan, wait: float) -> list[Row]:
    """The local stack without and with M calls waiting on slow REST answers, by round."""
    echo, waiting = plan.rest
    of = f" of {plan.rounds}" if plan.rounds > 1 else ""
    rows = []
    for r, rest in product(range(1, plan.rounds + 1), (RestLoad(0), RestLoad(waiting))):
        stack = partial(
            measure_stack,
            bench.procs,
            bench.plan(echo + waiting, plan.rest_seconds),
            bench.server_cpus,
            bench.state.parent / "stack",
            RestLoad(rest.calls, REST_DELAY_S),
        )
        title = f"the local stack, {rest.server}, {echo + waiting} calls, round {r}{of}"
        rows.append(replace(_step(title, stack, wait), round=r))
    return rows


def _sweep(bench: Bench, plan: Plan, results: Results, per_worker: int, wait: float) -> list[Row]:
    """audio_socket, the best FastAPI variant (from this run's direct rows) and Node at
    each point of the sweep, interleaved by round as every other section."""
    best = best_fastapi_kind(results)
    kinds = [ServerKind.AUDIO_SOCKET, best]
    if node_available():
        kinds.append(ServerKind.NODE)
    console.print(f"sweep: {', '.join(k.value for k in kinds)} at {plan.sweep} calls")
    of = f" of {plan.rounds}" if plan.rounds > 1 else ""
    rows = []
    for n, r, kind in product(plan.sweep, range(1, plan.rounds + 1), kinds):
        workers = max(bench.workers, math.ceil(n / per_worker))
        title = f"sweep: {kind.value}, {n} calls, {workers} worker(s), round {r}{of}"
        row = _step(title, partial(bench.direct, kind, n, plan.seconds, workers), wait)
        rows.append(replace(row, round=r, path="sweep"))
    return rows


def best_fastapi_kind(results: Results) -> ServerKind:
    """The FastAPI variant of least CPU per frame in this run's direct rows (not
    saturated); websockets-sansio, the least in the recorded runs, when none was measured."""
    best = best_fastapi(results, results.direct)
    if best is None:
        return ServerKind.FASTAPI_SANSIO
    return ServerKind(best.server)


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
            f" {result.server_us_per_frame or 0:.1f} µs/frame, lost {lost_cell(result)}"
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
    if args.render is not None:
        try:
            results = load_results(args.render)
        except BenchError as exc:
            console.print(f"[red]bench: {exc}")
            return 1
        _write(
            results, args.out, raw=args.out.with_suffix(".json").resolve() != args.render.resolve()
        )
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        log_dir = args.log_dir or Path(scratch)
        try:
            results = run(args, recorded_command(argv), log_dir)
        except BenchError as exc:
            console.print(f"[red]bench: {exc}")
            return 1
        except KeyboardInterrupt:
            console.print("[red]bench: interrupted; every process it started is stopped")
            return 130
    results.machine, results.code = machine(), code_version()
    _write(results, args.out)
    return 0


def _write(results: Results, out: Path, *, raw: bool = True) -> None:
    """RESULTS.md, the sweep's plot, and (unless re-rendering in place) RESULTS.json."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, sweep_plot_path(out).name))
    if results.sweep:
        plot = sweep_plot_path(out)
        write_sweep_plot(results, plot)
        console.print(f"wrote {plot}")
    if raw:
        save_results(results, out.with_suffix(".json"))
    console.print(f"wrote {out}" + (f" and {out.with_suffix('.json')}" if raw else ""))


#: Options that say where files go, not what is measured: left out of the record, so
#: RESULTS.md names no folder of the machine it ran on.
_WHERE_OPTIONS: Final = frozenset({"--out", "--log-dir"})


def recorded_command(argv: Sequence[str]) -> list[str]:
    """The command as RESULTS.md records it: ``argv`` without ``--out`` and ``--log-dir``."""
    shown: list[str] = ["python", "-m", "bench"]
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _WHERE_OPTIONS:
            skip = True
        elif arg.partition("=")[0] not in _WHERE_OPTIONS:
            shown.append(arg)
    return shown
