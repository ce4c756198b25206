"""tools/bench/RESULTS.md: the tables, the performance targets as pass/fail, how they were made."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any, Final

from bench.bot import bot_section, bot_targets
from bench.caddy_proxy import BASELINE
from bench.profile import CATEGORIES, Profile
from bench.runs import STACK_PATH, Row
from bench.servers import FASTAPI_KINDS, ServerKind
from bench.webhooks_rate import WebhooksFigures

# The performance targets, each a ratio measured in the same run.
CPU_RATIO_MAX = 0.8
#: Against the best of the FastAPI variants (least CPU per frame, not saturated).
FASTAPI_CPU_RATIO_MAX = 0.5
FASTAPI_RSS_RATIO_MAX = 0.25
#: A process this busy (% of one core; the generator: of its cores) is saturated.
SATURATED_PERCENT = 90.0
#: The simulator's own verdict on its schedule (tools/simulator/frontends/load.py).
LATE_P99_MS = 5.0
#: The stack's calls per core count only runs whose round trip p99 stays under this.
STACK_P99_MS = 20.0
FRAMES_PER_S = 50
#: The REST row: echo p99 with calls waiting on REST within this of the p99 without.
REST_P99_RATIO_MAX = 1.25
REST_P99_SLACK_MS = 1.0
#: Paced prompts (play()) against the echo, CPU per frame sent to the caller.
PROMPT_RATIO_MAX = 1.5
#: The coroutine form's CPU per echoed frame, against the callback form's.
COROUTINE_RATIO_MAX = 1.25
RSS_RATIO_MAX = 0.25
ANSWER_P99_MAX_MS = 5.0
MEASURED_CODE = ("audio_socket", "webhooks", "caddy", "stack")
REPO = Path(__file__).resolve().parents[2]
FOREIGN_PERCENT = 5.0  # other load during a run worth a caveat (% of one core)


@dataclass
class Results:
    """Everything one bench run measured."""

    argv: Sequence[str]
    server_cpus: set[int]
    load_cpus: set[int]
    seconds: float
    #: Times each measurement was repeated; the tables show medians.
    rounds: int = 1
    direct: list[Row] = field(default_factory=list)
    caddy: list[Row] = field(default_factory=list)
    variants: list[Row] = field(default_factory=list)
    webhooks: WebhooksFigures | None = None
    profile: Profile | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The REST row: the local stack with and without calls waiting on REST requests.
    rest: list[Row] = field(default_factory=list)
    rest_delay_s: float = 5.0
    #: How the cost grows (``--sweep``).
    sweep: list[Row] = field(default_factory=list)
    sweep_kinds: list[str] = field(default_factory=list)
    #: The voice bot's figures (bench.bot: measure_stack.py's JSON), or why it was not run.
    bot: dict[str, Any] | None = None
    bot_missing: str | None = None
    #: The machine and the code measured, as recorded when the run ended.
    machine: str = ""
    code: str = ""


@dataclass(frozen=True)
class Target:
    """One of the performance targets, as measured."""

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


#: Row fields added up over the rounds (what was sent and lost); the rest are medians.
SUMMED = frozenset({"frames_sent", "frames_echoed", "frames_lost", "calls_failed"})


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def combine(rows: list[Row]) -> list[Row]:
    """One row per server, path and calls, in the order first measured.

    Figures are the median of the rounds; frames and failed calls are totals, so
    a frame lost in any round shows; errors are merged; other load is the worst.
    """
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row)
    return [_combined(group) for group in groups.values()]


def _combined(group: list[Row]) -> Row:
    if len(group) == 1:
        return group[0]
    values: dict[str, object] = {}
    for f in fields(Row):
        column = [getattr(row, f.name) for row in group]
        if f.name in SUMMED:
            values[f.name] = sum(column)
        elif f.name == "errors":
            errors: Counter[str] = Counter()
            for row in group:
                errors.update(row.errors)
            values[f.name] = dict(errors)
        elif f.name == "foreign_cpu_percent":
            values[f.name] = max(column)
        elif f.name == "round":
            values[f.name] = 0
        elif isinstance(column[0], str | int) and not isinstance(column[0], bool):
            values[f.name] = column[0]  # server, path, calls: the same in every round
        else:
            values[f.name] = _median(column)
    return Row(**values)  # type: ignore[arg-type]


def _find(rows: list[Row], server: str, calls: int, path: str = "direct") -> Row | None:
    """The combined row of ``server`` at ``calls`` on ``path``."""
    group = _rounds(rows, (server, path, calls))
    return _combined(group) if group else None


def _rounds(rows: list[Row], key: tuple[str, str, int]) -> list[Row]:
    """Every round of one measurement, in round order."""
    return sorted((row for row in rows if row.key == key), key=lambda row: row.round)


Key = tuple[str, str, int]


def _spread(rows: list[Row], key: Key, value: Callable[[Row], float | None]) -> str:
    """`` (low-high)`` over the rounds of one measurement; empty for a single round."""
    seen = [v for row in _rounds(rows, key) if (v := value(row)) is not None]
    if len(seen) < 2:
        return ""
    return f" ({min(seen):.1f}-{max(seen):.1f})"


def targets(results: Results) -> list[Target]:
    """The performance targets from this run's rows."""
    audio, node = ServerKind.AUDIO_SOCKET.value, ServerKind.NODE.value
    found: list[Target] = []
    for calls in sorted({r.calls for r in results.direct}):
        ours, theirs = _find(results.direct, audio, calls), _find(results.direct, node, calls)
        if ours is None or theirs is None:
            continue
        ours_rounds = _rounds(results.direct, (audio, "direct", calls))
        theirs_rounds = _rounds(results.direct, (node, "direct", calls))
        found.append(
            _ratio(
                f"CPU per frame ≤ 0.8 x Node ({calls} calls)",
                ours.server_us_per_frame,
                theirs.server_us_per_frame,
                CPU_RATIO_MAX,
                _per_round(ours_rounds, theirs_rounds, _cpu_ratio),
            )
        )
        p99_ok = None
        if ours.rtt_p99_ms is not None and theirs.rtt_p99_ms is not None:
            p99_ok = ours.rtt_p99_ms <= theirs.rtt_p99_ms
        rounds = _per_round(ours_rounds, theirs_rounds, _p99_pair)
        found.append(
            Target(
                f"round-trip p99 ≤ Node's ({calls} calls)",
                f"{_f(ours.rtt_p99_ms, 2)} ms vs {_f(theirs.rtt_p99_ms, 2)} ms" + rounds,
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
    found.extend(_fastapi_targets(results))
    found.extend(_prompt_targets(results))
    found.extend(_coroutine_targets(results))
    found.extend(_rest_targets(results))
    found.extend(Target(*target) for target in bot_targets(results.bot))
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


def needed_percent(row: Row, *, caddy: bool = False) -> float:
    """The CPU, % of one core, that keeping pace needs: calls x 50 frames a second x the
    CPU per frame the run measured (the server's, plus Caddy's with ``caddy``).

    A server that falls behind stretches the run, so its CPU over the run's wall time
    stays under 100 % even when it cannot keep up; this figure does not.
    """
    per_frame = (row.server_us_per_frame or 0) + ((row.caddy_us_per_frame or 0) if caddy else 0)
    return row.calls * FRAMES_PER_S * per_frame / 1e4


def saturation(row: Row, load_cores: int = 1) -> str | None:
    """Why a point is saturated (server or generator CPU), or None."""
    need = needed_percent(row)
    if max(need, row.server_busy_percent or 0) >= SATURATED_PERCENT:
        return f"server saturated (keeping pace needs {need:.0f} % of a core)"
    if (row.load_busy_percent or 0) >= SATURATED_PERCENT * load_cores:
        return f"generator saturated ({row.load_busy_percent:.0f} % of {load_cores} core(s))"
    return None


def generator_late(row: Row) -> bool:
    """The simulator did not keep its 20 ms schedule: the round trips measure it too."""
    return (row.sim_late_p99_ms or 0) >= LATE_P99_MS


def best_fastapi(results: Results, rows: list[Row], calls: int | None = None) -> Row | None:
    """The FastAPI variant of least CPU per frame at ``calls`` (default: the most calls
    measured for every variant), saturated points left out; its combined row."""
    load = len(results.load_cpus)
    kinds = {kind.value for kind in FASTAPI_KINDS}
    if calls is None:
        counts = sorted({r.calls for r in rows if r.server in kinds})
        if not counts:
            return None
        calls = counts[-1]
    found = [
        row
        for kind in sorted(kinds)
        if (row := _find(rows, kind, calls, rows[0].path if rows else "direct")) is not None
        and row.server_us_per_frame is not None
        and saturation(row, load) is None
    ]
    return min(found, key=lambda row: row.server_us_per_frame or 0.0, default=None)


def _fastapi_targets(results: Results) -> list[Target]:
    """CPU per frame ≤ 0.5 x and memory per call ≤ 1/4 x the best FastAPI variant's."""
    audio, load = ServerKind.AUDIO_SOCKET.value, len(results.load_cpus)
    fastapi = {kind.value for kind in FASTAPI_KINDS}
    found = []
    for calls in sorted({r.calls for r in results.direct}):
        ours = _find(results.direct, audio, calls)
        best = best_fastapi(results, results.direct, calls)
        names = (
            f"CPU per frame ≤ 0.5 x best FastAPI ({calls} calls)",
            f"memory per call ≤ 1/4 x best FastAPI ({calls} calls)",
        )
        measured = {r.server for r in results.direct if r.calls == calls}
        if ours is not None and best is None and measured & fastapi:
            found += [
                Target(name, "kept out: every FastAPI variant saturated", None) for name in names
            ]
            continue
        if ours is None or best is None:
            continue
        if (why := saturation(ours, load)) is not None:
            found += [Target(name, f"kept out: {why}", None) for name in names]
            continue
        rounds = _per_round(
            _rounds(results.direct, (audio, "direct", calls)),
            _rounds(results.direct, (best.server, "direct", calls)),
            _cpu_ratio,
        )
        found.append(
            _ratio(
                names[0],
                ours.server_us_per_frame,
                best.server_us_per_frame,
                FASTAPI_CPU_RATIO_MAX,
                f"; vs {best.server}{rounds}",
            )
        )
        found.append(
            _ratio(
                names[1],
                ours.server_kib_per_call,
                best.server_kib_per_call,
                FASTAPI_RSS_RATIO_MAX,
                f"; vs {best.server}",
            )
        )
    return found


def _rest_targets(results: Results) -> list[Target]:
    """The echo's p99 with calls waiting on slow REST answers, against the same without."""
    rows = combine(results.rest)
    quiet = next((r for r in rows if r.server.endswith("no REST requests")), None)
    busy = next((r for r in rows if r is not quiet), None)
    if quiet is None or busy is None:
        return []
    name = (
        f"echo p99 while calls wait {results.rest_delay_s:g} s on REST"
        f" ≤ max(1.25 x, +1 ms) without ({busy.calls} calls)"
    )
    if quiet.rtt_p99_ms is None or busy.rtt_p99_ms is None:
        return [Target(name, "not measured", None)]
    limit = max(quiet.rtt_p99_ms * REST_P99_RATIO_MAX, quiet.rtt_p99_ms + REST_P99_SLACK_MS)
    answered = busy.rest_answered or 0
    return [
        Target(
            name,
            f"{busy.rtt_p99_ms:.2f} vs {quiet.rtt_p99_ms:.2f} ms; {answered} REST answers,"
            f" {busy.frames_lost} frames lost",
            busy.rtt_p99_ms <= limit and busy.frames_lost == 0 and answered > 0,
        )
    ]


def _prompt_targets(results: Results) -> list[Target]:
    """CPU per outbound frame of paced prompts against the echo's, at each call count."""
    return _against_echo(
        results, ServerKind.PROMPTS, "CPU per frame sent, prompts ≤ 1.5 x echo", PROMPT_RATIO_MAX
    )


def _coroutine_targets(results: Results) -> list[Target]:
    """CPU per echoed frame of the coroutine form against the callback form's echo."""
    return _against_echo(
        results,
        ServerKind.COROUTINE,
        "CPU per echoed frame, coroutine handler ≤ 1.25 x callback",
        COROUTINE_RATIO_MAX,
    )


def _against_echo(results: Results, kind: ServerKind, title: str, limit: float) -> list[Target]:
    """CPU per frame of audio_socket with another handler against the echo's, by call count."""
    audio, ours_name = ServerKind.AUDIO_SOCKET.value, kind.value
    found = []
    for calls in sorted({r.calls for r in results.direct if r.server == ours_name}):
        ours, echo = _find(results.direct, ours_name, calls), _find(results.direct, audio, calls)
        if ours is None or echo is None:
            continue
        found.append(
            _ratio(
                f"{title} ({calls} calls)",
                ours.server_us_per_frame,
                echo.server_us_per_frame,
                limit,
                _per_round(
                    _rounds(results.direct, (ours_name, "direct", calls)),
                    _rounds(results.direct, (audio, "direct", calls)),
                    _cpu_ratio,
                ),
            )
        )
    return found


def _ratio(
    name: str, ours: float | None, theirs: float | None, limit: float, rounds: str = ""
) -> Target:
    """A ratio of the medians against its limit."""
    if ours is None or theirs is None or theirs <= 0:
        return Target(name, "not measured", None)
    ratio = ours / theirs
    # Three decimals: 0.805 must not read as the 0.80 it fails.
    return Target(name, f"{ratio:.3f} ({_f(ours)} vs {_f(theirs)}){rounds}", ratio <= limit)


def _cpu_ratio(ours: Row, theirs: Row) -> str | None:
    if ours.server_us_per_frame is None or not theirs.server_us_per_frame:
        return None
    return f"{ours.server_us_per_frame / theirs.server_us_per_frame:.3f}"


def _p99_pair(ours: Row, theirs: Row) -> str | None:
    if ours.rtt_p99_ms is None or theirs.rtt_p99_ms is None:
        return None
    return f"{ours.rtt_p99_ms:.2f} vs {theirs.rtt_p99_ms:.2f}"


def _per_round(ours: list[Row], theirs: list[Row], show: Callable[[Row, Row], str | None]) -> str:
    """``; rounds: a, b, c``: the same comparison in each round; empty for one round."""
    pairs = [(o, t) for o in ours for t in theirs if o.round == t.round]
    shown = [text for o, t in pairs if (text := show(o, t)) is not None]
    if len(shown) < 2:
        return ""
    return "; rounds: " + ", ".join(shown)


def render(results: Results, sweep_plot: str = "RESULTS-sweep.png") -> str:
    """The whole of RESULTS.md; ``sweep_plot`` names the sweep's PNG beside it."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench`; do not edit by hand, run it again.",
        "",
        f"- command: `{shlex.join(results.argv)}`",
        f"- date: {results.started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {results.machine or 'not recorded'}",
        f"- code: {results.code or 'not recorded'}",
        f"- pinning: servers, Caddy and webhooks on CPU {_cpus(results.server_cpus)};"
        f" the simulator (the only load generator), the answer stub and the bench itself"
        f" on CPU {_cpus(results.load_cpus)}",
        f"- each load run: 16 kHz calls, {results.seconds:g} s of audio each, every server"
        " started fresh; CPU = server process CPU seconds (/proc/PID/stat) ÷ frames"
        " echoed; memory = RSS growth (/proc/PID/statm) with every call connected ÷ calls",
        f"- rounds: {results.rounds}; {_rounds_note(results.rounds)}",
        "",
        "## Targets, from this run",
        "",
        "Each ratio is of the medians over the rounds; the rounds' own figures follow.",
        "",
        "| target | measured (ours vs the peer) | |",
        "|---|---|---|",
    ]
    for target in targets(results):
        verdict = {True: "**pass**", False: "**FAIL**", None: "-"}[target.passed]
        lines.append(f"| {target.name} | {target.measured} | {verdict} |")
    lines += _direct_table(results.direct)
    lines += _profile_section(results.profile)
    lines += _caddy_table(results)
    lines += _stack_accounting(results)
    lines += _rest_table(results)
    lines += _sweep_section(results, sweep_plot)
    lines += _variants_table(results.variants)
    lines += _webhooks_table(results.webhooks)
    lines += bot_section(results.bot, results.bot_missing)
    lines += _slipped(results)
    return "\n".join(lines) + "\n"


def _rounds_note(rounds: int) -> str:
    if rounds == 1:
        return "each figure is one measurement"
    return (
        "each round measured every server in turn (interleaved), each table shows the median"
        " of the rounds, and frames lost are the total of every round"
    )


def _cpus(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def lost_cell(row: Row) -> str:
    """Frames lost, or why there is no such figure: the prompts handler plays a prompt
    and drops the caller's frames, so none of them comes back by design."""
    if row.server == ServerKind.PROMPTS.value:
        return "n/a (drops the caller's)"
    return f"{row.frames_lost:,}"


def _direct_table(rows: list[Row]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "## Echo servers, direct (no proxy)",
        "",
        "| server | calls | frames echoed (prompts: heard) | lost | failed calls | RTT p50 ms |"
        " RTT p99 ms |"
        " CPU µs/frame (rounds' range) | server core busy % | RSS KiB/call |"
        " simulator late p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in combine(rows):
        cpu = _spread(rows, r.key, lambda row: row.server_us_per_frame)
        lines.append(
            f"| {r.server} | {r.calls} | {r.frames_echoed:,} | {lost_cell(r)} |"
            f" {r.calls_failed} | {_f(r.rtt_p50_ms, 2)} | {_f(r.rtt_p99_ms, 2)} |"
            f" {_f(r.server_us_per_frame)}{cpu} | {_f(r.server_busy_percent, 0)} |"
            f" {_f(r.server_kib_per_call)} |"
            f" {_f(r.sim_late_p99_ms, 2)} |"
        )
    return lines


#: What each change to audio_socket bought (docs/performance.md tells how it was measured).
CHANGES: Final = (
    "| audio_socket | CPU µs/frame | RSS KiB/call |",
    "|---|--:|--:|",
    "| websockets' asyncio server, a reader task per call (commit fafe1cd) | 33.2 | 21.7 |",
    "| websockets' Sans-I/O `ServerProtocol` driven from an `asyncio.Protocol`, plain audio"
    " frames taken whole (`wire.py`), asyncio's loop | 16.2 | 6.9 |",
    "| the same on uvloop, keepalive as one sweep, parser restarted at frame boundaries"
    " | 14.5 | 5.0 |",
    "| Node (the tutorial's server), same rounds | 21.0 | 22.5 |",
    "",
    "Then at 500 calls, where `perf` put 44 % of audio_socket's user time in the"
    " interpreter against 20 % for the floor server: the short cut's gate worked out"
    " when the connection changes instead of for each frame, the connection counting"
    " frames and calling the handler's `on_audio` itself (commit c9a934d; nine Python"
    " calls per echoed frame down to five). Four interleaved rounds of 500 calls, 15 s"
    " (2026-11-24 14:39-14:45 UTC, medians): user CPU per frame 8.6 to 7.6 µs, total"
    " 17.2 to 16.3 µs, Node 21.9 µs in the same rounds.",
)


def _profile_section(profile: Profile | None) -> list[str]:
    if profile is None:
        return []
    lines = [
        "",
        "## Where audio_socket's time goes, and what each change bought",
        "",
    ]
    if profile.error is not None or not profile.busy_samples:
        lines.append(f"Not profiled in this run: {profile.error or 'py-spy took no busy sample'}.")
    else:
        busy = profile.busy_samples
        lines += [
            f"py-spy (`record --native --idle`, {profile.samples:,} samples) on audio_socket"
            f" during an extra, unmeasured run of {profile.calls} calls, while every call was"
            " connected and sending (tools/bench/profile.py). Of the"
            f" {busy:,} samples in which the server was busy (another"
            f" {profile.waiting:,} waited in `epoll_wait`):",
            "",
            "| where | share of busy samples |",
            "|---|--:|",
        ]
        lines += [f"| {c} | {profile.busy[c] / busy * 100:.0f} % |" for c in CATEGORIES]
        if profile.top_python:
            lines += ["", "Python lines most often on top (share of busy samples):", ""]
            lines += [f"- {line}: {n / busy * 100:.1f} %" for line, n in profile.top_python]
    lines += [
        "",
        "What is left per frame is one `recv`, one `send` and a share of an `epoll_wait`:"
        " the system calls Node makes too. On loopback a `send` also delivers the bytes"
        " to the receiving socket, so its cost is the largest.",
        "",
        "Each change, measured side by side in three interleaved rounds of 200 calls"
        " (2026-11-24 09:36-09:40 UTC, medians; the method, what each change bought,"
        " and Caddy's settings are discussed in"
        " [docs/performance.md](../../docs/performance.md)):",
        "",
        *CHANGES,
    ]
    return lines


def _caddy_table(results: Results) -> list[str]:
    if not results.caddy:
        return []
    lines = [
        "",
        "## Through Caddy vs direct",
        "",
        f"`{BASELINE.name}`: tools/bench/caddy_proxy.py's Caddyfile, the project's `/socket` route"
        " with a static upstream, TLS from Caddy's local CA. The local stack: `Stack` of"
        " tools/stack/launcher.py (what `make run` starts) with caddy/Caddyfile itself, signed"
        " webhooks and per-call credentials; its Caddy, webhooks and audio replica pinned"
        " to the server core.",
        "",
        "| server | path | calls | RTT p50 / p99 direct | via Caddy | Caddy adds p50 / p99 |"
        " Caddy CPU µs/frame | server CPU µs/frame | lost |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in combine(results.caddy):
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
        caddy = _spread(results.caddy, r.key, lambda row: row.caddy_us_per_frame)
        lines.append(
            f"| {r.server} | {r.path} | {r.calls} | {before} |"
            f" {_f(r.rtt_p50_ms, 2)} / {_f(r.rtt_p99_ms, 2)} | {added} |"
            f" {_f(r.caddy_us_per_frame)}{caddy} | {_f(r.server_us_per_frame)} |"
            f" {r.frames_lost:,} |"
        )
    return lines


def _stack_accounting(results: Results) -> list[str]:
    """Where the CPU of each local-stack row went, against the machine's cores."""
    stack = [r for r in combine(results.caddy) if r.path == STACK_PATH]
    if not stack:
        return []
    cores = len(results.server_cpus) + len(results.load_cpus)
    lines = [
        "",
        "## The local stack: CPU per process against the machine's cores",
        "",
        f"% of one core over each run (the machine has {os.cpu_count()} CPUs; the bench"
        f" pins Caddy, webhooks and the replica to CPU {_cpus(results.server_cpus)}, the"
        f" load generator to CPU {_cpus(results.load_cpus)}). *Needed*: what keeping pace"
        " takes, calls x 50 frames/s x (Caddy's + the replica's CPU per frame); a core that"
        " falls behind stretches the run, so its CPU over the run stays under 100 % even"
        f" then. The server core is saturated when the need reaches {SATURATED_PERCENT:g} %:"
        " latency then is queueing on a full core, which more cores fix, not the code."
        " Below that, latency has another cause worth finding.",
        "",
        "| calls | Caddy % | audio replica % | server core total % | needed % |"
        " load generator % | RTT p50 / p99 ms | verdict |",
        "|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in stack:
        server = (r.caddy_busy_percent or 0) + (r.server_busy_percent or 0)
        need = needed_percent(r, caddy=True)
        if max(server, need) >= SATURATED_PERCENT * len(results.server_cpus):
            verdict = "server core saturated: the machine, not a defect"
        elif (r.load_busy_percent or 0) >= SATURATED_PERCENT * len(results.load_cpus):
            verdict = "load generator saturated: the machine"
        elif generator_late(r):
            verdict = "load generator late: its queueing is in the round trips"
        else:
            verdict = "not CPU-bound"
        lines.append(
            f"| {r.calls} | {_f(r.caddy_busy_percent, 0)} | {_f(r.server_busy_percent, 0)} |"
            f" {server:.0f} | {need:.0f} | {_f(r.load_busy_percent, 0)} |"
            f" {_f(r.rtt_p50_ms, 2)} / {_f(r.rtt_p99_ms, 2)} | {verdict} |"
        )
    lines += ["", *_calls_per_core(stack, cores)]
    return lines


def _calls_per_core(stack: list[Row], cores: int) -> list[str]:
    """Calls per core of Caddy + one replica: measured under 20 ms p99, and extrapolated."""
    lines = []
    fine = [
        r
        for r in stack
        if r.rtt_p99_ms is not None and r.rtt_p99_ms < STACK_P99_MS and not generator_late(r)
    ]
    if fine:
        r = max(fine, key=lambda row: row.calls)
        cpu = needed_percent(r, caddy=True)
        bound = _above(stack, r)
        lines.append(
            f"- **Measured**: **{r.calls} calls on one core** with round-trip p99 under"
            f" {STACK_P99_MS:g} ms: Caddy and the replica, pinned to the one core they share,"
            f" needed {cpu:.0f} % of it at p99 {r.rtt_p99_ms:.2f} ms, the load generator on the"
            f" other core, not sharing theirs{bound}."
        )
    else:
        lines.append(
            f"- **Measured**: no stack run of this bench kept p99 under {STACK_P99_MS:g} ms"
            " with the generator on schedule; run with a smaller --calls."
        )
    costs = [r for r in stack if r.caddy_us_per_frame and r.server_us_per_frame]
    if costs:
        r = min(costs, key=lambda row: row.calls)
        frame_us = (r.caddy_us_per_frame or 0) + (r.server_us_per_frame or 0)
        ceiling = 1e6 / (frame_us * FRAMES_PER_S)
        lines.append(
            f"- **Extrapolated** from per-frame costs at {r.calls} calls (Caddy"
            f" {_f(r.caddy_us_per_frame)} + replica {_f(r.server_us_per_frame)} µs per echoed"
            f" frame, 50 frames/s a call): a core full to 100 % carries {ceiling:,.0f} calls;"
            " the latency bound above is reached before that."
        )
    lines.append(
        f"- The machine has {cores} cores for Caddy, the replica and the generator together:"
        " docs/performance.md says what would raise the figure."
    )
    return lines


def _above(stack: list[Row], best: Row) -> str:
    """What the larger counts than ``best`` did: past the bound, or under it but with
    the generator late (so not a clean measurement either way)."""
    notes = []
    for row in sorted((r for r in stack if r.calls > best.calls), key=lambda r: r.calls):
        p99 = row.rtt_p99_ms
        if p99 is not None and p99 >= STACK_P99_MS:
            notes.append(f"{row.calls} calls went past it (p99 {p99:.2f} ms)")
            break
        notes.append(
            f"{row.calls} calls stayed under it (p99 {_f(p99, 2)} ms) with the load"
            " generator late, so they measure it too"
        )
    if not notes:
        return "; no larger count was run, so it may carry more (add counts with --stack-calls)"
    return "; " + "; ".join(notes)


def _rest_table(results: Results) -> list[str]:
    if not results.rest:
        return []
    lines = [
        "",
        f"## The echo while calls wait on REST requests answered after {results.rest_delay_s:g} s",
        "",
        "The local stack with tools/bench/rest_handler.py: every call echoes; the first M calls"
        " also send DTMF through the Voice REST API (the official SDK in the replica's"
        " worker threads) one request after another, and the simulator's REST API"
        f" answers each after {results.rest_delay_s:g} s (`--api-delay`). The same stack"
        " without REST requests ran in the same rounds. p99 is over every call.",
        "",
        "| run | calls | RTT p50 ms | RTT p99 ms (rounds' range) | REST answers | frames lost |"
        " replica CPU µs/frame |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in combine(results.rest):
        p99 = _spread(results.rest, r.key, lambda row: row.rtt_p99_ms)
        answered = "-" if r.rest_answered is None else f"{r.rest_answered:,}"
        lines.append(
            f"| {r.server} | {r.calls} | {_f(r.rtt_p50_ms, 2)} | {_f(r.rtt_p99_ms, 2)}{p99} |"
            f" {answered} | {r.frames_lost:,} | {_f(r.server_us_per_frame)} |"
        )
    return lines


def _sweep_section(results: Results, plot: str) -> list[str]:
    """How the cost grows: the table, the ratios at unsaturated points, the plot."""
    if not results.sweep:
        return []
    load = len(results.load_cpus)
    lines = [
        "",
        "## How the cost grows (direct, `--sweep`)",
        "",
        "Saturated: keeping pace needs ≥ 90 % of the server's core (calls x 50 frames/s x"
        " its CPU per frame), or the generator used ≥ 90 % of its cores; such points are"
        " marked and kept out of the ratios. Generator late: the"
        " simulator's send lateness p99 ≥ 5 ms, so the round trips there measure the"
        " generator too (its calls are spread over one worker per --calls-per-worker calls)."
        f" Plot: `{plot}` beside this file.",
        "",
        "| server | calls | workers | CPU µs/frame | RSS KiB/call | RTT p99 ms | server % |"
        " generator % | generator late p99 ms | point |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    rows = combine(results.sweep)
    for r in sorted(rows, key=lambda row: (row.server, row.calls)):
        notes = [why] if (why := saturation(r, load)) else []
        if generator_late(r):
            notes.append("generator late")
        lines.append(
            f"| {r.server} | {r.calls} | {r.workers} | {_f(r.server_us_per_frame)} |"
            f" {_f(r.server_kib_per_call)} | {_f(r.rtt_p99_ms, 2)} |"
            f" {_f(r.server_busy_percent, 0)} | {_f(r.load_busy_percent, 0)} |"
            f" {_f(r.sim_late_p99_ms, 2)} | {'; '.join(notes) or 'ok'} |"
        )
    lines += ["", "| calls | audio_socket vs | CPU per frame ratio | memory per call ratio |"]
    lines.append("|--:|---|--:|--:|")
    audio = ServerKind.AUDIO_SOCKET.value
    for calls in sorted({r.calls for r in rows}):
        ours = _find(results.sweep, audio, calls, "sweep")
        for peer in sorted({r.server for r in rows} - {audio}):
            theirs = _find(results.sweep, peer, calls, "sweep")
            if ours is None or theirs is None:
                continue
            if saturation(ours, load) or saturation(theirs, load):
                lines.append(f"| {calls} | {peer} | saturated: kept out | saturated: kept out |")
                continue
            lines.append(
                f"| {calls} | {peer} |"
                f" {_quotient(ours.server_us_per_frame, theirs.server_us_per_frame)} |"
                f" {_quotient(ours.server_kib_per_call, theirs.server_kib_per_call)} |"
            )
    return lines


def _quotient(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return "-"
    return f"{ours / theirs:.3f}"


def _variants_table(measured: list[Row]) -> list[str]:
    if not measured:
        return []
    rows = combine(measured)
    calls = rows[0].calls
    lines = [
        "",
        f"## Caddy settings ({rows[0].server} upstream, {calls} calls)",
        "",
        "| Caddy setting | Caddy CPU µs/frame | vs baseline (median) | each round vs its"
        " baseline | RTT p50 ms | RTT p99 ms | lost |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    base = next((r.caddy_us_per_frame for r in rows if r.path == BASELINE.name), None)
    baselines = {r.round: r.caddy_us_per_frame for r in measured if r.path == BASELINE.name}
    for r in rows:
        change = "-"
        if base and r.caddy_us_per_frame is not None:
            change = f"{(r.caddy_us_per_frame / base - 1) * 100:+.0f} %"
        per_round = [
            f"{(row.caddy_us_per_frame / b - 1) * 100:+.0f} %"
            for row in _rounds(measured, r.key)
            if row.caddy_us_per_frame is not None and (b := baselines.get(row.round))
        ]
        lines.append(
            f"| {r.path} | {_f(r.caddy_us_per_frame)} | {change} |"
            f" {', '.join(per_round) if len(per_round) > 1 else '-'} | {_f(r.rtt_p50_ms, 2)} |"
            f" {_f(r.rtt_p99_ms, 2)} | {r.frames_lost:,} |"
        )
    return lines


def _webhooks_table(hooks: WebhooksFigures | None) -> list[str]:
    if hooks is None:
        return []
    return [
        "",
        "## Answer webhook (signed POST /webhooks/answer, signature checks on, one core)",
        "",
        "| requests/s (32 in flight) | server CPU % | paced rate /s | p50 ms | p99 ms | max ms |"
        " failed | client late p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {hooks.requests_per_s:,.0f} | {hooks.server_cpu_percent:.0f} | {hooks.rate:g} |"
        f" {hooks.p50_ms:.2f} | {hooks.p99_ms:.2f} | {hooks.max_ms:.2f} | {hooks.failed} |"
        f" {hooks.client_late_p99_ms:.2f} |",
        "",
        "A raw HTTP/1.1 keep-alive client for both (httpx itself costs the client more"
        " CPU per request than the server spends, and timed through it the latency was"
        " mostly the client's: p50 2.6-3.1 ms). Latency: paced, each request on a"
        " connection of its own at the time, timed from send to whole response; requests"
        " signed as the simulator signs them. The webhooks run on uvloop and httptools.",
    ]


def _label(row: Row, rounds: int) -> str:
    label = f"{row.server} {row.path} {row.calls} calls"
    return f"{label}, round {row.round}" if rounds > 1 else label


def _slipped(results: Results) -> list[str]:
    rows = [*results.direct, *results.caddy, *results.rest, *results.sweep, *results.variants]
    late = [r for r in rows if generator_late(r)]
    notes = ["", "## Caveats", ""]
    if late:
        notes.append(
            "- The simulator slipped (send lateness p99 ≥ 5 ms) in: "
            + "; ".join(f"{_label(r, results.rounds)}" for r in late)
            + ". Those round trips partly measure the load generator."
        )
    busy = [r for r in rows if r.foreign_cpu_percent >= FOREIGN_PERCENT]
    if busy:
        notes.append(
            "- Other processes (not started by the bench), or the hypervisor (steal), took"
            " CPU during: "
            + "; ".join(
                f"{_label(r, results.rounds)} ({r.foreign_cpu_percent:.0f} % of a core)"
                for r in busy
            )
            + ". Those rows are disturbed; run again on a quiet machine."
        )
    failed = [r for r in rows if r.calls_failed or r.errors]
    for r in failed:
        notes.append(f"- {_label(r, results.rounds)}: errors {r.errors}")
    if len(notes) == 3:
        notes.append(
            "- none: the simulator kept its schedule, no call failed, the machine was quiet."
        )
    notes.append(f"- Python {sys.version.split()[0]} runs the bench, the simulator and servers.")
    return notes
