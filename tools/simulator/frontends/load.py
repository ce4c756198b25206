"""``python -m simulator load BASE_URL``: many calls at once, spread over worker processes.

Each worker runs its share of the calls on one event loop with one pacer (see
``vonage/pacer.py``), and reports progress twice a second and its call reports at the
end through a pipe. The parent only draws the live progress and the summary,
so its work never delays a frame.

The simulator measures its own send lateness — how late each frame left
against its 20 ms schedule — and says so loudly when the p99 reaches
:data:`LATENESS_LIMIT_MS`: a slow simulator must never pass for a slow server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.synchronize import Event as EventType
from typing import cast

import numpy as np

from simulator.errors import SimulatorError, UsageError
from simulator.net import client_ssl_context
from simulator.reports.call_report import build_report
from simulator.reports.load_report import (
    Progress,
    WorkerResult,
    render_progress,
    render_summary,
    summarize,
)
from simulator.setup import Setup, fail, open_api_link, resolve
from simulator.vonage.call import Call
from simulator.vonage.context import VARIANTS, CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallRecord
from simulator.vonage.webhook import WebhookClient

PROGRESS_EVERY = 0.5
START_TIMEOUT = 60.0
LIKELY_RATE = 16000
EXIT_SLIPPED = 3
FULL_COLLECTIONS_OFF = 1 << 30


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's share: the start offsets (s) of its calls."""

    index: int
    setup: Setup
    offsets: list[float]
    #: ``uvloop`` or ``asyncio``: the event loop the worker runs on.
    loop: str = "asyncio"
    #: --lenient-frames and --drop-notify (``CallOptions``).
    lenient_frames: bool = False
    drop_notify: bool = False


def split_offsets(calls: int, ramp: float, workers: int) -> list[list[float]]:
    """Start offsets spread evenly over ``ramp``, dealt round-robin to the workers."""
    offsets = [ramp * j / calls for j in range(calls)]
    return [offsets[w::workers] for w in range(workers)]


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None when it is not installed."""
    try:
        import uvloop  # noqa: PLC0415 - optional: the faster loop when installed
    except ImportError:
        return None
    return uvloop.new_event_loop


def resolve_loop(choice: str) -> str:
    """``--loop``: ``auto`` is uvloop when installed; ``uvloop`` must be installed."""
    if choice == "asyncio":
        return "asyncio"
    if uvloop_factory() is None:
        if choice == "uvloop":
            raise UsageError("--loop uvloop: uvloop is not installed (pip install uvloop)")
        return "asyncio"
    return "uvloop"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop ``name`` (None: asyncio's own)."""
    return uvloop_factory() if name == "uvloop" else None


def worker_main(spec: WorkerSpec, pipe: Connection, go: EventType) -> None:
    """Entry point of a worker process."""
    try:
        with asyncio.Runner(loop_factory=loop_factory(spec.loop)) as runner:
            runner.run(_worker(spec, pipe, go))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # sent to the parent, which reports it
        with contextlib.suppress(OSError):
            pipe.send(("done", WorkerResult(spec.index, error=f"{type(exc).__name__}: {exc}")))
    finally:
        pipe.close()


async def _worker(spec: WorkerSpec, pipe: Connection, go: EventType) -> None:
    setup = spec.setup
    signals = SignalCache(setup.seconds, setup.wav)
    for variant in range(VARIANTS):
        signals.get(LIKELY_RATE, variant)  # built before the clock starts
    webhooks = WebhookClient(client_ssl_context(setup.cafile), setup.signer(), setup.timeouts)
    pacer = Pacer()
    link = await open_api_link(setup)
    context = CallContext(webhooks, pacer, signals, setup.signer(), api_link=link)
    calls = [
        Call(
            setup.call_options(
                variant=i, lenient_frames=spec.lenient_frames, drop_notify=spec.drop_notify
            ),
            context,
        )
        for i in range(len(spec.offsets))
    ]
    # Everything built so far lives for the whole run: keep the collector off it, and
    # off the full collections that would stop every call for 20+ ms in mid-run
    # (measured). Young generations still collect; the rest waits for the end.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gc.get_threshold()[:2], FULL_COLLECTIONS_OFF)
    pipe.send(("ready", spec.index))
    await asyncio.to_thread(go.wait)
    start, cpu = time.monotonic(), time.process_time()
    tasks = [
        asyncio.create_task(_placed(call, start + offset))
        for call, offset in zip(calls, spec.offsets, strict=True)
    ]
    reporter = asyncio.create_task(_report_progress(spec.index, calls, tasks, pacer, pipe))
    try:
        records = await asyncio.gather(*tasks)
        busy = (time.process_time() - cpu) / max(time.monotonic() - start, 1e-9) * 100
    finally:
        reporter.cancel()
        await pacer.close()
        await webhooks.aclose()
        if link is not None:
            await link.close()
    reports = [build_report(record, setup.expect) for record in records]
    for report in reports:  # halved for the pipe; send times as seconds into the run
        report.rtt_ms = report.rtt_ms.astype(np.float32)
        report.rtt_at_s = (report.rtt_at_s - start).astype(np.float32)
        report.lateness_ms = report.lateness_ms.astype(np.float32)
    pipe.send(("done", WorkerResult(spec.index, reports, cpu_percent=round(busy, 1))))


async def _placed(call: Call, at: float) -> CallRecord:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    return await call.run()


async def _report_progress(
    index: int,
    calls: list[Call],
    tasks: list[asyncio.Task[CallRecord]],
    pacer: Pacer,
    pipe: Connection,
) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        late = list(pacer.recent_lateness)
        pacer.recent_lateness.clear()
        audios = [c.record.audio for c in calls if c.record.audio is not None]
        progress = Progress(
            active=pacer.active,
            done=sum(t.done() for t in tasks),
            failed=sum(c.record.error is not None for c in calls),
            sent=sum(a.next for a in audios),
            received=sum(a.received for a in audios),
            reconnects=sum(max(0, len(c.record.legs) - 1) for c in calls),
            late_p99_ms=float(np.percentile(late, 99)) * 1000 if late else 0.0,
        )
        pipe.send(("progress", index, progress))


def load_main(args: argparse.Namespace) -> int:
    """``load`` with its failures turned into one line and a status."""
    try:
        return load_command(args, resolve(args))
    except SimulatorError as exc:
        return fail(exc)


def load_command(args: argparse.Namespace, setup: Setup) -> int:
    """Run the load; print the summary; the exit status."""
    if args.calls < 1:
        raise UsageError("--calls must be at least 1")
    if not 1 <= args.workers <= args.calls:
        raise UsageError("--workers must be between 1 and --calls")
    if args.ramp < 0:
        raise UsageError("--ramp must not be negative")
    if args.plot is not None and not plot_available():
        raise UsageError(
            "--plot needs matplotlib, which `make run` does not install:"
            " run `make setup`, or `.venv/bin/pip install -e '.[plot]'`"
        )
    loop = resolve_loop(args.loop)
    shares = split_offsets(args.calls, args.ramp, args.workers)
    started = time.monotonic()
    flags = {"lenient_frames": args.lenient_frames, "drop_notify": args.drop_notify}
    specs = [WorkerSpec(i, setup, share, loop, **flags) for i, share in enumerate(shares)]
    results = run_workers(specs, args)
    summary = summarize(results, args.calls, time.monotonic() - started, args.workers, loop)
    if args.plot is not None:
        from simulator.reports.load_plot import plot_round_trips  # noqa: PLC0415 (matplotlib: slow)

        plot_round_trips([r for w in results for r in w.reports], summary, args, args.plot)
    render_summary(summary, as_json=args.json)
    if summary.calls_failed:
        return 1
    return EXIT_SLIPPED if summary.slipped else 0


def plot_available() -> bool:
    """Whether matplotlib (pyproject's ``plot`` extra, in ``make setup``) is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def run_workers(specs: list[WorkerSpec], args: argparse.Namespace) -> list[WorkerResult]:
    """Start the workers, show progress, collect their results."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    pipes: dict[Connection, int] = {}
    processes = []
    for spec in specs:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=worker_main, args=(spec, writer, go), daemon=True)
        process.start()
        writer.close()
        pipes[reader] = spec.index
        processes.append(process)
    try:
        return _collect(pipes, go, args)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


def _collect(
    pipes: dict[Connection, int], go: EventType, args: argparse.Namespace
) -> list[WorkerResult]:
    progress: dict[int, Progress] = {}
    results: dict[int, WorkerResult] = {}
    ready: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT
    started_at: float | None = None
    with render_progress(args) as show:
        open_pipes = list(pipes)
        while open_pipes:
            if started_at is None and time.monotonic() > deadline:
                raise SimulatorError("workers did not start within 60 s")
            for pipe in wait(open_pipes, timeout=0.25):
                pipe = cast(Connection, pipe)
                try:
                    message = pipe.recv()
                except EOFError:
                    open_pipes.remove(pipe)
                    index = pipes[pipe]
                    results.setdefault(index, WorkerResult(index, error="worker exited"))
                    continue
                kind = message[0]
                if kind == "ready":
                    ready.add(message[1])
                elif kind == "progress":
                    progress[message[1]] = message[2]
                elif kind == "done":
                    results[message[1].index] = message[1]
            if started_at is None and len(ready) == len(pipes):
                go.set()
                started_at = time.monotonic()
            show(progress, started_at)
    return [results[i] for i in sorted(results)]
