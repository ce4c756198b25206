"""bench/RESULTS.md: the tables, the targets of issue 6 as pass/fail, how they were made."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.caddy_proxy import BASELINE
from bench.runs import Row
from bench.servers import ServerKind
from bench.webhooks_rate import WebhooksFigures

# Issue 6's targets, each a ratio measured in the same run.
CPU_RATIO_MAX = 0.8
RSS_RATIO_MAX = 0.25
ANSWER_P99_MAX_MS = 5.0
MEASURED_CODE = ("audio_socket", "webhooks", "caddy", "stack")
REPO = Path(__file__).resolve().parent.parent
FOREIGN_PERCENT = 5.0  # other load during a run worth a caveat (% of one core)


@dataclass
class Results:
    """Everything one bench run measured."""

    argv: Sequence[str]
    server_cpus: set[int]
    load_cpus: set[int]
    seconds: float
    direct: list[Row] = field(default_factory=list)
    caddy: list[Row] = field(default_factory=list)
    variants: list[Row] = field(default_factory=list)
    webhooks: WebhooksFigures | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Target:
    """One of issue 6's targets, as measured."""

    name: str
    measured: str
    passed: bool | None  # None: not measured in this run


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def machine() -> str:
    """nproc, CPU model, kernel, Python and Node versions."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except OSError:
        node = "not installed"
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, Node {node or 'unknown'}"
    )


def code_version() -> str:
    """The commit measured, and whether the measured services differ from it."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], capture_output=True, text=True, check=False, timeout=10, cwd=REPO
            )
        except OSError:
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", *MEASURED_CODE)
    state = "with uncommitted changes to them" if changed else "as committed"
    return f"commit {commit}; {', '.join(MEASURED_CODE)} {state}"


def _find(rows: list[Row], server: str, calls: int, path: str = "direct") -> Row | None:
    for row in rows:
        if row.server == server and row.calls == calls and row.path == path:
            return row
    return None


def targets(results: Results) -> list[Target]:
    """Issue 6's targets from this run's rows."""
    audio, node = ServerKind.AUDIO_SOCKET.value, ServerKind.NODE.value
    found: list[Target] = []
    for calls in sorted({r.calls for r in results.direct}):
        ours, theirs = _find(results.direct, audio, calls), _find(results.direct, node, calls)
        if ours is None or theirs is None:
            continue
        found.append(
            _ratio(
                f"CPU per frame ≤ 0.8 x Node ({calls} calls)",
                ours.server_us_per_frame,
                theirs.server_us_per_frame,
                CPU_RATIO_MAX,
            )
        )
        p99_ok = None
        if ours.rtt_p99_ms is not None and theirs.rtt_p99_ms is not None:
            p99_ok = ours.rtt_p99_ms <= theirs.rtt_p99_ms
        found.append(
            Target(
                f"round-trip p99 ≤ Node's ({calls} calls)",
                f"{_f(ours.rtt_p99_ms, 2)} ms vs {_f(theirs.rtt_p99_ms, 2)} ms",
                p99_ok,
            )
        )
        found.append(
            Target(
                f"nothing lost ({calls} calls)",
                f"{ours.frames_lost} frames lost, {ours.calls_failed} calls failed",
                ours.frames_lost == 0 and ours.calls_failed == 0,
            )
        )
        found.append(
            _ratio(
                f"memory per call ≤ 1/4 x Node ({calls} calls)",
                ours.server_kib_per_call,
                theirs.server_kib_per_call,
                RSS_RATIO_MAX,
            )
        )
    if results.webhooks is not None:
        hooks = results.webhooks
        found.append(
            Target(
                f"answer webhook p99 ≤ 5 ms at {hooks.rate:g}/s",
                f"{hooks.p99_ms:.2f} ms",
                hooks.p99_ms <= ANSWER_P99_MAX_MS and hooks.failed == 0,
            )
        )
    return found


def _ratio(name: str, ours: float | None, theirs: float | None, limit: float) -> Target:
    if ours is None or theirs is None or theirs <= 0:
        return Target(name, "not measured", None)
    ratio = ours / theirs
    return Target(name, f"{ratio:.2f} ({_f(ours)} vs {_f(theirs)})", ratio <= limit)


def render(results: Results) -> str:
    """The whole of RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench` (issue 6); do not edit by hand, run it again.",
        "",
        f"- command: `{shlex.join(results.argv)}`",
        f"- date: {results.started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- code: {code_version()}",
        f"- pinning: servers, Caddy and webhooks on CPU {_cpus(results.server_cpus)};"
        f" the simulator (the only load generator), the answer stub and the bench itself"
        f" on CPU {_cpus(results.load_cpus)}",
        f"- each load run: 16 kHz calls, {results.seconds:g} s of audio each, every server"
        " started fresh; CPU = server process CPU seconds (/proc/PID/stat) ÷ frames"
        " echoed; memory = RSS growth (/proc/PID/statm) with every call connected ÷ calls",
        "",
        "## Targets (issue 6), from this run",
        "",
        "| target | measured (ours vs Node) | |",
        "|---|---|---|",
    ]
    for target in targets(results):
        verdict = {True: "**pass**", False: "**FAIL**", None: "-"}[target.passed]
        lines.append(f"| {target.name} | {target.measured} | {verdict} |")
    lines += _direct_table(results.direct)
    lines += _caddy_table(results)
    lines += _variants_table(results.variants)
    lines += _webhooks_table(results.webhooks)
    lines += _slipped(results)
    return "\n".join(lines) + "\n"


def _cpus(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def _direct_table(rows: list[Row]) -> list[str]:
    lines = [
        "",
        "## Echo servers, direct (no proxy)",
        "",
        "| server | calls | frames echoed | lost | failed calls | RTT p50 ms | RTT p99 ms |"
        " CPU µs/frame | server core busy % | RSS KiB/call | simulator late p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.server} | {r.calls} | {r.frames_echoed:,} | {r.frames_lost:,} |"
            f" {r.calls_failed} | {_f(r.rtt_p50_ms, 2)} | {_f(r.rtt_p99_ms, 2)} |"
            f" {_f(r.server_us_per_frame)} | {_f(r.server_busy_percent, 0)} |"
            f" {_f(r.server_kib_per_call)} |"
            f" {_f(r.sim_late_p99_ms, 2)} |"
        )
    return lines


def _caddy_table(results: Results) -> list[str]:
    lines = [
        "",
        "## Through Caddy vs direct",
        "",
        f"`{BASELINE.name}`: bench/caddy_proxy.py's Caddyfile, the project's `/socket` route"
        " with a static upstream, TLS from Caddy's local CA. The local stack: `Stack` of"
        " stack/launcher.py (what `make run` starts) with caddy/Caddyfile itself, signed"
        " webhooks and per-call credentials; its Caddy, webhooks and audio replica pinned"
        " to the server core.",
        "",
        "| server | path | calls | RTT p50 / p99 direct | via Caddy | Caddy adds p50 / p99 |"
        " Caddy CPU µs/frame | server CPU µs/frame | lost |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results.caddy:
        direct = _find(results.direct, r.server, r.calls)
        added = "-"
        before = "-"
        if direct is not None:
            before = f"{_f(direct.rtt_p50_ms, 2)} / {_f(direct.rtt_p99_ms, 2)}"
            if None not in (direct.rtt_p50_ms, direct.rtt_p99_ms, r.rtt_p50_ms, r.rtt_p99_ms):
                added = (
                    f"{(r.rtt_p50_ms or 0) - (direct.rtt_p50_ms or 0):+.2f} /"
                    f" {(r.rtt_p99_ms or 0) - (direct.rtt_p99_ms or 0):+.2f}"
                )
        lines.append(
            f"| {r.server} | {r.path} | {r.calls} | {before} |"
            f" {_f(r.rtt_p50_ms, 2)} / {_f(r.rtt_p99_ms, 2)} | {added} |"
            f" {_f(r.caddy_us_per_frame)} | {_f(r.server_us_per_frame)} | {r.frames_lost:,} |"
        )
    return lines


def _variants_table(rows: list[Row]) -> list[str]:
    if not rows:
        return []
    calls = rows[0].calls
    lines = [
        "",
        f"## Caddy settings ({rows[0].server} upstream, {calls} calls)",
        "",
        "| Caddy setting | Caddy CPU µs/frame | vs baseline | RTT p50 ms | RTT p99 ms | lost |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    base = next((r.caddy_us_per_frame for r in rows if r.path == BASELINE.name), None)
    for r in rows:
        change = "-"
        if base and r.caddy_us_per_frame is not None:
            change = f"{(r.caddy_us_per_frame / base - 1) * 100:+.0f} %"
        lines.append(
            f"| {r.path} | {_f(r.caddy_us_per_frame)} | {change} | {_f(r.rtt_p50_ms, 2)} |"
            f" {_f(r.rtt_p99_ms, 2)} | {r.frames_lost:,} |"
        )
    return lines


def _webhooks_table(hooks: WebhooksFigures | None) -> list[str]:
    if hooks is None:
        return []
    return [
        "",
        "## Answer webhook (signed GET /webhooks/answer, signature checks on, one core)",
        "",
        "| requests/s (32 in flight) | server CPU % | paced rate /s | p50 ms | p99 ms | max ms |"
        " failed | client late p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {hooks.requests_per_s:,.0f} | {hooks.server_cpu_percent:.0f} | {hooks.rate:g} |"
        f" {hooks.p50_ms:.2f} | {hooks.p99_ms:.2f} | {hooks.max_ms:.2f} | {hooks.failed} |"
        f" {hooks.client_late_p99_ms:.2f} |",
        "",
        "Throughput: a raw HTTP/1.1 keep-alive client (httpx itself costs the client more"
        " CPU per request than the server spends). Latency: httpx, timed from send to"
        " response, requests signed as the simulator signs them.",
    ]


def _slipped(results: Results) -> list[str]:
    rows = [*results.direct, *results.caddy, *results.variants]
    late = [r for r in rows if (r.sim_late_p99_ms or 0) >= 5.0]
    notes = ["", "## Caveats", ""]
    if late:
        notes.append(
            "- The simulator slipped (send lateness p99 ≥ 5 ms) in: "
            + "; ".join(f"{r.server} {r.path} {r.calls} calls" for r in late)
            + ". Those round trips partly measure the load generator."
        )
    busy = [r for r in rows if r.foreign_cpu_percent >= FOREIGN_PERCENT]
    if busy:
        notes.append(
            "- Other processes (not started by the bench) used CPU during: "
            + "; ".join(
                f"{r.server} {r.path} {r.calls} calls ({r.foreign_cpu_percent:.0f} % of a core)"
                for r in busy
            )
            + ". Those rows are disturbed; run again on a quiet machine."
        )
    failed = [r for r in rows if r.calls_failed or r.errors]
    for r in failed:
        notes.append(f"- {r.server} {r.path} {r.calls} calls: errors {r.errors}")
    if len(notes) == 3:
        notes.append(
            "- none: the simulator kept its schedule, no call failed, the machine was quiet."
        )
    notes.append(f"- Python {sys.version.split()[0]} runs the bench, the simulator and servers.")
    return notes
