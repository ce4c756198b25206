"""One load run: the simulator's load mode against a base URL, the servers watched.

The simulator is the only load generator. It runs as
``python -m simulator load BASE_URL ... --json`` pinned to the load core, while
this module samples the watched processes from /proc every
:data:`SAMPLE_EVERY` seconds: CPU seconds used over the run, and the resident
memory at the moment most sockets were open.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Final

from bench.procs import CLOCK_TICKS, BenchError, Process, Processes, Usage
from bench.procs import Watched as Watchable

SAMPLE_EVERY: Final = 0.2
EXIT_SLIPPED: Final = 3
IDLE_PERCENT: Final = 10.0  # of one core, while the bench runs nothing


@dataclass(frozen=True)
class LoadPlan:
    """What every load run does."""

    calls: int
    seconds: float
    ramp: float
    workers: int
    cpus: set[int]


@dataclass
class Watched:
    """What one watched process did during a run."""

    cpu_s: float
    rss_delta_bytes: int
    peak_sockets: int


@dataclass
class LoadRun:
    """The simulator's summary and the watched processes' usage."""

    summary: dict[str, Any]
    watched: dict[str, Watched] = field(default_factory=dict)
    #: CPU (% of one core) that processes this run did not start used meanwhile.
    foreign_cpu_percent: float = 0.0
    wall_s: float = 0.0
    #: CPU seconds of the load generator (the simulator, its workers, this sampler).
    load_cpu_s: float = 0.0

    @property
    def load_busy_percent(self) -> float | None:
        """The load generator's CPU over the run, % of one core."""
        return self.load_cpu_s / self.wall_s * 100 if self.wall_s > 0 else None

    def busy_percent(self, name: str) -> float | None:
        """CPU ``name`` used over the run, % of one core."""
        if name not in self.watched or self.wall_s <= 0:
            return None
        return self.watched[name].cpu_s / self.wall_s * 100

    @property
    def frames_echoed(self) -> int:
        """Frames that came back to the simulator."""
        return int(self.summary.get("frames_received", 0))

    def cpu_us_per_frame(self, name: str) -> float | None:
        """CPU microseconds ``name`` spent per echoed frame."""
        if name not in self.watched or not self.frames_echoed:
            return None
        return self.watched[name].cpu_s / self.frames_echoed * 1e6

    def rss_kib_per_call(self, name: str, calls: int) -> float | None:
        """Resident memory ``name`` grew by per connected call (KiB)."""
        if name not in self.watched:
            return None
        return self.watched[name].rss_delta_bytes / calls / 1024


def run_load(
    procs: Processes,
    base_url: str,
    plan: LoadPlan,
    watch: Mapping[str, Watchable],
    *,
    cafile: Path | None = None,
    secret: str | None = None,
    expect: str = "echo",
    options: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> LoadRun:
    """Run the simulator's load mode once; the summary and each watched process's usage.

    Webhooks are sent unsigned unless ``secret`` is given (the answer stub checks none).
    ``expect`` is the simulator's ``--expect``: ``audio`` for a server that plays prompts.
    ``options`` go on the simulator's command line, ``environ`` into its environment.
    """
    argv = [
        sys.executable,
        "-m",
        "simulator",
        "load",
        base_url,
        *([] if secret else ["--unsigned"]),
        "--calls",
        str(plan.calls),
        "--seconds",
        f"{plan.seconds:g}",
        "--ramp",
        f"{plan.ramp:g}",
        "--workers",
        str(plan.workers),
        "--expect",
        expect,
        # The greeting is not what is measured: every call streams from its start, as
        # in the recorded runs (docs/vonage-protocol.md, "What the simulator models").
        "--instant-talk",
        "--json",
        *options,
    ]
    if cafile is not None:
        argv += ["--cafile", str(cafile)]
    out = procs.log_dir / "simulator.json"
    before = {name: p.usage() for name, p in watch.items()}
    samples: dict[str, list[Usage]] = {name: [] for name in watch}
    machine, own, started = machine_busy_s(), _own_cpu_s(), time.monotonic()
    with out.open("wb") as stdout:
        env = dict(os.environ) | dict(environ or {})
        env.pop("VONAGE_SIGNATURE_SECRET", None)
        if secret:
            env["VONAGE_SIGNATURE_SECRET"] = secret  # not on the command line, seen by ps
        simulator = procs.start("simulator", argv, env=env, cpus=plan.cpus, stdout=stdout)
        try:
            while simulator.popen.poll() is None:
                for name, process in watch.items():
                    process.check_alive()
                    samples[name].append(process.usage())
                time.sleep(SAMPLE_EVERY)
        finally:
            procs.stop(simulator)
    watched = {
        name: _usage(before[name], samples[name], process.usage())
        for name, process in watch.items()
    }
    load = _own_cpu_s() - own
    ours = load + sum(w.cpu_s for w in watched.values())
    wall = time.monotonic() - started
    foreign = (machine_busy_s() - machine - ours) / wall * 100
    summary = _parse_summary(out, simulator)
    return LoadRun(summary, watched, max(0.0, foreign), wall, load)


def wait_idle(limit: float, busy_percent: float = IDLE_PERCENT) -> float:
    """Wait up to ``limit`` s for the machine to be quiet; the busy % seen last.

    The box may be shared (another engineer's soak or benchmark): figures taken
    under foreign load measure that load too.
    """
    deadline = time.monotonic() + limit
    while True:
        before = machine_busy_s()
        time.sleep(1.0)
        busy = (machine_busy_s() - before) * 100
        if busy < busy_percent or time.monotonic() >= deadline:
            return busy


def machine_busy_s() -> float:
    """CPU seconds every core has spent on processes, or lost to the hypervisor, since boot.

    From /proc/stat: user, nice, system and steal. Interrupt and softirq time are
    left out: on loopback the kernel's network work for the bench's own traffic
    is counted there, on no process, and would pass for someone else's load.
    """
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, fields)
    return (user + nice + system + steal) / CLOCK_TICKS


def _own_cpu_s() -> float:
    """CPU of this process and of the children it has reaped (the simulator and its workers)."""
    mine, reaped = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return mine.ru_utime + mine.ru_stime + reaped.ru_utime + reaped.ru_stime


def _parse_summary(out: Path, simulator: Process) -> dict[str, Any]:
    lines = out.read_text().strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise BenchError(
            f"the simulator gave no summary (status {simulator.popen.returncode}):\n"
            f"{simulator.log_tail()}"
        ) from None
    if not isinstance(summary, dict):
        raise BenchError("the simulator's summary is not a JSON object")
    summary["exit_status"] = simulator.popen.returncode
    return summary


def _usage(before: Usage, samples: list[Usage], after: Usage) -> Watched:
    """CPU over the run; RSS growth at the samples with the most sockets open."""
    peak = max((s.sockets for s in samples), default=before.sockets)
    near = peak - max(2, peak // 100)
    at_peak = [s.rss_bytes for s in samples if s.sockets >= near] or [after.rss_bytes]
    return Watched(
        cpu_s=after.cpu_s - before.cpu_s,
        rss_delta_bytes=int(median(at_peak)) - before.rss_bytes,
        peak_sockets=peak - before.sockets,
    )
