"""The measurements of a bench run: each starts its processes fresh and stops them.

* :func:`measure_direct` — one echo server, calls straight to its socket;
* :func:`measure_via_caddy` — the same behind Caddy (one variant of its settings);
* the answer webhook is :mod:`bench.webhooks_rate`.

Calls reach a server through :mod:`bench.answer_stub` (the simulator has no
direct-socket mode), which runs beside the load on the load core.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.caddy_proxy import Caddy, CaddyVariant, start_caddy
from bench.load import LoadPlan, LoadRun, run_load
from bench.procs import (
    LOOPBACK,
    ForeignProcess,
    Process,
    Processes,
    Watched,
    free_port,
    pin,
    tcp_open,
    wait_ready,
)
from bench.servers import Server, ServerKind, start_server
from stack.launcher import Stack, StackConfig

REPO = Path(__file__).resolve().parents[2]
STACK_PATH = "the local stack (caddy/Caddyfile, webhooks)"
SECRET_VARIABLES = ("VONAGE_SIGNATURE_SECRET", "SOCKET_TOKEN_SECRET")


@dataclass
class Row:
    """One load run's figures, as the results table shows them."""

    server: str
    path: str  # "direct" or the Caddy variant's name
    calls: int
    frames_sent: int
    frames_echoed: int
    frames_lost: int
    calls_failed: int
    rtt_p50_ms: float | None
    rtt_p99_ms: float | None
    server_us_per_frame: float | None
    server_kib_per_call: float | None
    #: The server's CPU over the run, % of one core: near 100 it is saturated.
    server_busy_percent: float | None
    caddy_us_per_frame: float | None
    sim_late_p99_ms: float | None
    errors: dict[str, int]
    #: CPU (% of one core) used meanwhile by processes the bench did not start.
    foreign_cpu_percent: float = 0.0
    #: Which round of the run (1, 2, ...); 0 for a row combining every round.
    round: int = 1
    #: The load generator's CPU (the simulator and its workers), % of one core.
    load_busy_percent: float | None = None
    #: Caddy's CPU over the run, % of one core (rows through Caddy).
    caddy_busy_percent: float | None = None
    #: Simulator worker processes the calls were spread over.
    workers: int = 1
    #: REST requests answered to the calls of the REST row (tools/bench/rest_handler.py).
    rest_answered: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """What a row measures, whatever the round: server, path, calls."""
        return self.server, self.path, self.calls

    @classmethod
    def from_run(cls, server: str, path: str, calls: int, run: LoadRun, workers: int = 1) -> Row:
        """Figures from the simulator's summary and the watched processes."""
        summary: dict[str, Any] = run.summary
        rtt = summary.get("round_trip_ms") or {}
        late = summary.get("send_lateness_ms") or {}
        return cls(
            server=server,
            path=path,
            calls=calls,
            frames_sent=int(summary.get("frames_sent", 0)),
            frames_echoed=run.frames_echoed,
            frames_lost=int(summary.get("frames_lost", 0)),
            calls_failed=int(summary.get("calls_failed", calls)),
            rtt_p50_ms=rtt.get("p50"),
            rtt_p99_ms=rtt.get("p99"),
            server_us_per_frame=run.cpu_us_per_frame("server"),
            server_kib_per_call=run.rss_kib_per_call("server", calls),
            server_busy_percent=run.busy_percent("server"),
            caddy_us_per_frame=run.cpu_us_per_frame("caddy"),
            sim_late_p99_ms=late.get("p99"),
            errors=dict(summary.get("errors") or {}),
            foreign_cpu_percent=round(run.foreign_cpu_percent, 1),
            load_busy_percent=run.load_busy_percent,
            caddy_busy_percent=run.busy_percent("caddy"),
            workers=workers,
        )


def start_stub(
    procs: Processes, socket_uri: str, server: Server, cpus: set[int]
) -> tuple[str, Process]:
    """The answer stub connecting calls to ``socket_uri``: its base URL and process."""
    port = free_port()
    env = dict(os.environ) | {"PYTHONPATH": str(REPO)}
    env.pop("SOCKET_TOKEN_SECRET", None)
    if server.token_secret is not None:
        env["SOCKET_TOKEN_SECRET"] = server.token_secret
    argv = [sys.executable, "-m", "bench.answer_stub", "--socket", socket_uri, "--port", str(port)]
    stub = procs.start("answer_stub", argv, env=env, cpus=cpus)
    wait_ready(stub, tcp_open(port))
    return f"http://{LOOPBACK}:{port}", stub


def measure_direct(
    procs: Processes, kind: ServerKind, plan: LoadPlan, server_cpus: set[int]
) -> Row:
    """A fresh server, calls straight to its socket."""
    started = len(procs.started)
    try:
        server = start_server(procs, kind, server_cpus)
        base_url, stub = start_stub(procs, server.socket_uri, server, plan.cpus)
        expect = "audio" if kind is ServerKind.PROMPTS else "echo"
        watch = {"server": server.process, "stub": stub}
        run = run_load(procs, base_url, plan, watch, expect=expect)
    finally:
        _stop_since(procs, started)
    return Row.from_run(kind.value, "direct", plan.calls, run, plan.workers)


def measure_via_caddy(
    procs: Processes,
    server: Server,
    *,
    variant: CaddyVariant,
    plan: LoadPlan,
    server_cpus: set[int],
    state: Path,
) -> Row:
    """Calls through a fresh Caddy of ``variant`` to an already running ``server``."""
    started = len(procs.started)
    try:
        caddy: Caddy = start_caddy(procs, variant, server.port, state, server_cpus)
        base_url, stub = start_stub(procs, caddy.socket_uri, server, plan.cpus)
        watch = {"server": server.process, "caddy": caddy.process, "stub": stub}
        run = run_load(procs, base_url, plan, watch, cafile=caddy.cafile)
    finally:
        _stop_since(procs, started)
    return Row.from_run(server.kind.value, variant.name, plan.calls, run, plan.workers)


def measure_stack(
    procs: Processes,
    plan: LoadPlan,
    server_cpus: set[int],
    state: Path,
    rest: RestLoad | None = None,
) -> Row:
    """The real thing: the stack launcher (``make run``), signed webhooks, credentials,
    the project's caddy/Caddyfile with its DNS upstream, one audio replica.

    With ``rest``, the replica runs tools/bench/rest_handler.py and the simulator's Voice
    REST API answers each request after ``rest.delay`` seconds.
    """
    environ = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    environ |= {"MAX_CALLS": "2000"}
    options: list[str] = []
    if rest is not None:
        environ |= {
            "AUDIO_HANDLER": "bench.rest_handler:RestHandler",
            "BENCH_REST_CALLS": str(rest.calls),
            # The SDK must outwait the slow answer: a timeout is not what is measured.
            "VONAGE_API_TIMEOUT": f"{rest.delay + 10:g}",
        }
        options = ["--api-delay", f"{rest.delay:g}"]
    config = StackConfig(state_dir=state, https_port=0, environ=environ)
    with Stack(config) as stack:
        assert stack.caddy is not None
        assert stack.webhooks is not None
        replica = stack.replicas[0]
        for pid in (stack.caddy.pid, stack.webhooks.pid, replica.pid):
            pin(pid, server_cpus)
        watch: dict[str, Watched] = {
            "server": ForeignProcess("audio replica", replica.pid),
            "caddy": ForeignProcess("caddy", stack.caddy.pid),
        }
        run = run_load(
            procs,
            stack.base_url,
            plan,
            watch,
            cafile=stack.cafile,
            secret=stack.secrets.vonage_signature_secret,
            options=options,
            # The simulator finds the stack's REST API (voice-api/api.env) there.
            environ={"STACK_STATE_DIR": str(state)},
        )
        logs = stack.paths.logs
    server = ServerKind.AUDIO_SOCKET.value if rest is None else rest.server
    row = Row.from_run(server, STACK_PATH, plan.calls, run, plan.workers)
    if rest is not None:
        row.rest_answered = rest_answered(logs)
    return row


@dataclass(frozen=True)
class RestLoad:
    """The REST row's setting: how many calls keep a request pending, how slow Vonage is."""

    calls: int
    delay: float = 5.0

    @property
    def server(self) -> str:
        """The row's server column."""
        if self.calls == 0:
            return "audio_socket, no REST requests"
        return f"audio_socket, {self.calls} calls waiting on REST ({self.delay:g} s)"


def rest_answered(logs: Path) -> int:
    """REST requests answered, from the lines tools/bench/rest_handler.py logs at each call end."""
    pattern = re.compile(r"bench REST caller: answered=(\d+)")
    total = 0
    for log in logs.glob("audio*.log"):
        total += sum(int(m[1]) for m in pattern.finditer(log.read_text(errors="replace")))
    return total


def _stop_since(procs: Processes, count: int) -> None:
    """Stop what was started after the first ``count`` processes, newest first."""
    for process in reversed(procs.started[count:]):
        procs.stop(process)
