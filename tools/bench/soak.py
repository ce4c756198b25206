"""Soak: many concurrent calls through Caddy for minutes, memory watched.

``python -m bench.soak`` (``make soak``) starts a local stack with the launcher ``make
run`` uses, runs ``python -m simulator load`` against it — 200 calls, each lasting the
whole run (10 minutes by default) — and samples the resident memory of each service
(Caddy, webhooks, every audio replica) while it runs. It passes when every call came
through byte-exact and in order with no frame lost and no reconnect, and each
service's memory stayed flat after the warm-up::

    python -m bench.soak --calls 200 --minutes 10    # the issue's figures
    python -m bench.soak --calls 50 --minutes 1      # a quick look

Memory is *flat* when the mean of the last tenth of the samples after the warm-up
exceeds the mean of the first tenth by less than ``FLAT_MB`` or ``FLAT_FRACTION``
(a leak of a few bytes per frame grows by megabytes over 10 minutes of 10,000
frames a second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import StatisticsError, fmean, linear_regression
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stack import Stack, StackConfig
from stack.caddy import CaddyAdmin

SAMPLE_EVERY = 5.0
FLAT_MB = 10.0
FLAT_FRACTION = 0.05
#: Run time taken as warm-up, on top of the ramp: allocators settle, buffers grow once.
WARMUP_FRACTION = 0.2
#: Run time after warm-up below which memory growth is not conclusive (measured: Caddy's
#: heap settles about 3 minutes into the calls).
SETTLE_WINDOW = 300.0
#: What the stack's replicas get: a short drain so that stopping it is quick.
DRAIN_TIMEOUT = "5"


@dataclass
class Series:
    """One service's RSS samples (MB) at times (s from the start of the load)."""

    name: str
    pid: int
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    #: Caddy only, from its admin API's /metrics at the same times: the Go heap's
    #: live objects (MB) and the goroutines (two per proxied WebSocket and then some).
    go_times: list[float] = field(default_factory=list)
    heap_mb: list[float] = field(default_factory=list)
    goroutines: list[float] = field(default_factory=list)

    def figures(self, warm_from: float) -> dict[str, Any]:
        """Start, after warm-up, max, end, growth after warm-up, slope, and the verdict."""
        warm = [m for t, m in zip(self.times, self.rss_mb, strict=True) if t >= warm_from]
        warm_times = [t for t in self.times if t >= warm_from]
        if len(warm) < 2:
            return {"name": self.name, "samples": len(self.rss_mb), "flat": None}
        head, tail = _ends(warm)
        growth = tail - head
        return {
            "name": self.name,
            "samples": len(self.rss_mb),
            "start_mb": round(self.rss_mb[0], 1),
            "warm_mb": round(head, 1),
            "max_mb": round(max(self.rss_mb), 1),
            "end_mb": round(tail, 1),
            "growth_mb": round(growth, 1),
            "slope_mb_per_min": round(_slope(warm_times, warm) * 60, 2),
            "cpu_percent": round(self.cpu_s / max(self.times[-1], 1e-9) * 100, 1),
            "flat": growth < max(FLAT_MB, FLAT_FRACTION * head),
        }


def go_runtime(admin: CaddyAdmin) -> tuple[float, float] | None:
    """Caddy's live Go heap (MB) and goroutines, from its admin /metrics; None if unreadable."""
    try:
        text = admin.metrics()
    except httpx.HTTPError:
        return None
    return parse_go_runtime(text)


def parse_go_runtime(text: str) -> tuple[float, float] | None:
    """Heap in use by live objects (MB) and goroutines from Prometheus text; None if absent."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("go_memstats_heap_alloc_bytes", "go_goroutines"):
            found[family.name] = family.samples[0].value
    if len(found) < 2:
        return None
    return found["go_memstats_heap_alloc_bytes"] / 2**20, found["go_goroutines"]


def heap_figures(series: Series, warm_from: float) -> dict[str, Any]:
    """Caddy's Go heap and goroutines after warm-up: first tenth, last tenth, max."""
    warm = [
        (h, g)
        for t, h, g in zip(series.go_times, series.heap_mb, series.goroutines, strict=True)
        if t >= warm_from
    ]
    if len(warm) < 2:
        return {}
    heap, goroutines = [h for h, _ in warm], [g for _, g in warm]
    (heap_warm, heap_end), (goroutines_warm, goroutines_end) = _ends(heap), _ends(goroutines)
    return {
        "heap_warm_mb": round(heap_warm, 1),
        "heap_end_mb": round(heap_end, 1),
        "heap_max_mb": round(max(heap), 1),
        "goroutines_warm": round(goroutines_warm),
        "goroutines_end": round(goroutines_end),
        "goroutines_max": round(max(goroutines)),
    }


def _ends(values: list[float]) -> tuple[float, float]:
    """The mean of the first tenth of ``values`` and of the last tenth (at least one each)."""
    tenth = max(1, len(values) // 10)
    return fmean(values[:tenth]), fmean(values[-tenth:])


def _slope(times: list[float], values: list[float]) -> float:
    """Least-squares slope (units per second); 0 when every sample has the same time."""
    try:
        return linear_regression(times, values).slope
    except StatisticsError:
        return 0.0


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_parser() -> argparse.ArgumentParser:
    """The options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=200, help="concurrent calls (default 200)")
    parser.add_argument("--minutes", type=float, default=10.0, help="run time (default 10)")
    parser.add_argument("--replicas", type=int, default=2, help="audio replicas (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="simulator processes (default 2)")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds over which calls start")
    parser.add_argument("--json", type=Path, help="also write every figure and sample here")
    return parser


def service_series(stack: Stack) -> list[Series]:
    """One series per service process of the stack."""
    assert stack.caddy is not None
    assert stack.webhooks is not None
    processes = [("caddy", stack.caddy.pid), ("webhooks", stack.webhooks.pid)]
    processes += [(r.name, r.pid) for r in stack.replicas]
    return [Series(name, pid) for name, pid in processes]


def run_load(
    stack: Stack, args: argparse.Namespace, series: list[Series], admin: CaddyAdmin
) -> dict[str, Any]:
    """``python -m simulator load`` against the stack, sampling memory while it runs."""
    seconds = args.minutes * 60
    argv = [
        sys.executable, "-m", "simulator", "load", stack.base_url,
        "--calls", str(args.calls), "--seconds", f"{seconds:g}", "--ramp", f"{args.ramp:g}",
        "--workers", str(args.workers), "--json",
        "--cafile", str(stack.cafile),
    ]  # fmt: skip
    cpu0 = {s.pid: cpu_seconds(s.pid) for s in series}
    started = time.monotonic()
    # The secret goes in the environment: a command line is visible to every user (ps).
    env = dict(os.environ, VONAGE_SIGNATURE_SECRET=stack.secrets.vonage_signature_secret)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as load:
        deadline = started + seconds + args.ramp + 120
        while load.poll() is None:
            now = time.monotonic() - started
            for s in series:
                if (mb := rss_mb(s.pid)) is not None:
                    s.times.append(now)
                    s.rss_mb.append(mb)
                    if s.name == "caddy" and (go := go_runtime(admin)) is not None:
                        s.go_times.append(now)
                        s.heap_mb.append(go[0])
                        s.goroutines.append(go[1])
            if time.monotonic() > deadline:
                load.kill()
                break
            time.sleep(SAMPLE_EVERY)
        out, _ = load.communicate()
    for s in series:
        s.cpu_s = cpu_seconds(s.pid) - cpu0[s.pid]
    try:
        summary: dict[str, Any] = json.loads(out)
    except ValueError:
        summary = {"error": f"simulator load exited {load.returncode} without a summary"}
    summary["exit_status"] = load.returncode
    return summary


def verdict(summary: dict[str, Any], memory: list[dict[str, Any]], calls: int) -> list[str]:
    """What failed, in words; empty when the soak passed."""
    problems = []
    if summary.get("calls_passed") != calls:
        problems.append(f"calls passed {summary.get('calls_passed')}/{calls}: {summary}")
    if summary.get("frames_lost", 1):
        problems.append(f"{summary.get('frames_lost')} frames lost")
    if summary.get("reconnects", 1):
        problems.append(f"{summary.get('reconnects')} reconnects")
    problems += [
        f"{m['name']} memory grew {m.get('growth_mb')} MB" for m in memory if not m["flat"]
    ]
    return problems


def render(args: argparse.Namespace, summary: dict[str, Any], memory: list[dict[str, Any]]) -> str:
    """The report as text."""
    rtt, late = summary.get("round_trip_ms", {}), summary.get("send_lateness_ms", {})
    lines = [
        f"soak: {args.calls} calls x {args.minutes:g} min through Caddy,"
        f" {args.replicas} audio replicas, {args.workers} simulator workers",
        f"calls passed {summary.get('calls_passed')}/{args.calls} (byte-exact, in order);"
        f" frames sent {summary.get('frames_sent')}, received {summary.get('frames_received')},"
        f" lost {summary.get('frames_lost')}; reconnects {summary.get('reconnects')}",
        f"round trip ms p50 {rtt.get('p50')} p90 {rtt.get('p90')} p99 {rtt.get('p99')}"
        f" max {rtt.get('max')}; simulator send lateness p99 {late.get('p99')} ms"
        f" (slipped: {summary.get('slipped')})",
        "",
        f"{'RSS MB':<10}{'start':>8}{'warm':>8}{'max':>8}{'end':>8}{'growth':>8}"
        f"{'MB/min':>8}{'cpu %':>7}  flat",
    ]
    for m in memory:
        lines.append(
            f"{m['name']:<10}{m.get('start_mb', '-'):>8}{m.get('warm_mb', '-'):>8}"
            f"{m.get('max_mb', '-'):>8}{m.get('end_mb', '-'):>8}{m.get('growth_mb', '-'):>8}"
            f"{m.get('slope_mb_per_min', '-'):>8}{m.get('cpu_percent', '-'):>7}  {m['flat']}"
        )
    for m in memory:
        if "heap_warm_mb" in m:
            lines.append(
                f"{m['name']} Go heap (live objects) MB: after warm-up {m['heap_warm_mb']},"
                f" max {m['heap_max_mb']}, end {m['heap_end_mb']}; goroutines: after warm-up"
                f" {m['goroutines_warm']}, max {m['goroutines_max']}, end {m['goroutines_end']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when it passed, 1 when not."""
    args = build_parser().parse_args(argv)
    environ = dict(os.environ, DRAIN_TIMEOUT=DRAIN_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="soak-") as state:
        config = StackConfig(
            state_dir=Path(state), audio_replicas=args.replicas, https_port=0, environ=environ
        )
        with Stack(config) as stack:
            print(f"soak: stack up at {stack.base_url}; {args.calls} calls for"
                  f" {args.minutes:g} min", file=sys.stderr)  # fmt: skip
            series = service_series(stack)
            summary = run_load(stack, args, series, stack.admin)
    warm_from = args.ramp + WARMUP_FRACTION * args.minutes * 60
    memory = [s.figures(warm_from) | heap_figures(s, warm_from) for s in series]
    problems = verdict(summary, memory, args.calls)
    print(render(args, summary, memory))
    print("PASSED" if not problems else "FAILED: " + "; ".join(problems))
    if args.minutes * 60 - warm_from < SETTLE_WINDOW:
        print(
            "note: under 5 minutes left after warm-up: Caddy's heap grows for the first"
            " ~3 minutes of calls before it settles, so judge memory on a longer run"
        )
    if summary.get("slipped"):
        print(
            "note: the simulator's own sending slipped (send lateness p99 over 5 ms): the"
            " machine is saturated, so round trips measure it, not the stack"
        )
    if args.json is not None:
        record = {"summary": summary, "memory": memory, "series": [asdict(s) for s in series]}
        args.json.write_text(json.dumps(record, indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
