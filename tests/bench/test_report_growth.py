"""tools/bench/report.py: FastAPI targets, saturation, the sweep, the stack's accounting, REST."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.cli import main
from bench.profile import Profile
from bench.raw import load_results, save_results
from bench.report import Results, best_fastapi, render, saturation, targets
from bench.runs import STACK_PATH, Row
from bench.sweep_plot import sweep_plot_path, write_sweep_plot
from bench.webhooks_rate import WebhooksFigures

SANSIO = "FastAPI + uvicorn, websockets-sansio"
WSPROTO = "FastAPI + uvicorn, wsproto"


def _row(server: str, cpu: float, rss: float, *, calls: int = 200, busy: float = 50.0) -> Row:
    return Row(
        server=server,
        path="direct",
        calls=calls,
        frames_sent=1000,
        frames_echoed=1000,
        frames_lost=0,
        calls_failed=0,
        rtt_p50_ms=0.5,
        rtt_p99_ms=3.0,
        server_us_per_frame=cpu,
        server_kib_per_call=rss,
        server_busy_percent=busy,
        caddy_us_per_frame=None,
        sim_late_p99_ms=1.0,
        errors={},
        load_busy_percent=40.0,
    )


def _fastapi(results: Results) -> list[tuple[str, bool | None]]:
    return [(t.name, t.passed) for t in targets(results) if "FastAPI" in t.name]


def test_fastapi_targets_against_the_best_variant() -> None:
    """0.5 x the least-CPU variant's CPU and 1/4 of its memory pass; the worse one is not used."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.direct = [
        _row("audio_socket", 25.0, 7.5),
        _row(SANSIO, 50.0, 30.0),
        _row(WSPROTO, 70.0, 20.0),
    ]
    assert [passed for _, passed in _fastapi(results)] == [True, True]
    best = best_fastapi(results, results.direct, 200)
    assert best is not None
    assert best.server == SANSIO
    results.direct[0] = _row("audio_socket", 25.1, 7.6)
    assert [passed for _, passed in _fastapi(results)] == [False, False]


def test_a_saturated_variant_is_not_the_best() -> None:
    """A FastAPI server at a full core is kept out: the next variant is compared."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.direct = [
        _row("audio_socket", 30.0, 4.0),
        _row(SANSIO, 50.0, 30.0, busy=97.0),
        _row(WSPROTO, 70.0, 20.0),
    ]
    best = best_fastapi(results, results.direct, 200)
    assert best is not None
    assert best.server == WSPROTO
    assert "saturated" in (saturation(results.direct[1]) or "")
    assert saturation(replace(results.direct[2], load_busy_percent=95.0)) is not None
    assert saturation(results.direct[2]) is None
    results.direct[2] = _row(WSPROTO, 70.0, 20.0, busy=99.0)
    kept_out = [t for t in targets(results) if "FastAPI" in t.name]
    assert [t.passed for t in kept_out] == [None, None]
    assert all("every FastAPI variant saturated" in t.measured for t in kept_out)


def test_a_server_behind_its_schedule_is_saturated_whatever_its_busy_share() -> None:
    """500 calls at 44.6 µs a frame need 112 % of a core: saturated, though the stretched
    run put its CPU at 70 % of the wall time; at 17 µs (43 %) it is not."""
    behind = _row(SANSIO, 44.6, 30.0, calls=500, busy=70.0)
    assert saturation(behind) == "server saturated (keeping pace needs 112 % of a core)"
    assert saturation(_row("audio_socket", 17.0, 6.0, calls=500, busy=26.0)) is None


def _sweep(results: Results) -> None:
    for calls, busy in ((50, 20.0), (1000, 99.0)):
        for server, cpu in (("audio_socket", 10.0), (SANSIO, 50.0), ("node", 15.0)):
            row = _row(server, cpu, 5.0, calls=calls, busy=busy if server == SANSIO else 40.0)
            results.sweep.append(replace(row, path="sweep", workers=calls // 250 or 1))


def test_sweep_table_marks_saturated_points(tmp_path: Path) -> None:
    """The sweep's table and ratios: a saturated point is marked and kept out; a plot is drawn."""
    results = Results(["bench"], {0}, {1}, 20.0)
    _sweep(results)
    text = render(results)
    assert "## How the cost grows" in text
    assert "| 50 | FastAPI + uvicorn, websockets-sansio | 0.200 | 1.000 |" in text
    assert "| 1000 | FastAPI + uvicorn, websockets-sansio | saturated: kept out |" in text
    assert "| 1000 | node | 0.667 |" in text
    plot = sweep_plot_path(tmp_path / "RESULTS.md")
    write_sweep_plot(results, plot)
    assert plot.name == "RESULTS-sweep.png"
    assert plot.read_bytes().startswith(b"\x89PNG")


def _stack(calls: int, p99: float, caddy: float, audio: float) -> Row:
    row = _row("audio_socket", 16.0, 5.0, calls=calls, busy=audio)
    return replace(
        row, path=STACK_PATH, rtt_p99_ms=p99, caddy_busy_percent=caddy, caddy_us_per_frame=30.0
    )


def test_stack_accounting_tells_saturation_and_calls_per_core() -> None:
    """A full server core is the machine; calls per core come from the run under 20 ms."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.caddy = [
        _stack(200, 4.6, 30.0, 20.0),
        _stack(300, 9.5, 45.0, 30.0),
        _stack(400, 26.0, 55.0, 36.0),
        _stack(500, 71.0, 60.0, 38.0),
    ]
    text = render(results)
    assert "server core saturated: the machine, not a defect" in text
    assert "| 200 | 30 | 20 | 50 | 46 | 40 | 0.50 / 4.60 | not CPU-bound |" in text
    assert "**Measured**: **300 calls on one core**" in text
    assert "needed 69 % of it at p99 9.50 ms" in text
    assert "400 calls went past it (p99 26.00 ms)" in text
    # 1e6 µs / ((30 + 16) µs x 50 frames/s)
    assert "a core full to 100 % carries 435 calls" in text


def test_calls_per_core_says_when_no_larger_count_was_run() -> None:
    """The largest count under 20 ms with none above it is a lower bound, and says so."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.caddy = [_stack(200, 4.6, 30.0, 20.0)]
    assert "no larger count was run, so it may carry more" in render(results)
    results.caddy = [_stack(200, 24.0, 30.0, 20.0)]
    assert "no stack run of this bench kept p99 under 20 ms" in render(results)
    # A larger count under the bound but with the generator late is said to be so.
    late = replace(_stack(300, 12.0, 40.0, 25.0), sim_late_p99_ms=9.0)
    results.caddy = [_stack(200, 4.6, 30.0, 20.0), late]
    text = render(results)
    assert "**200 calls on one core**" in text
    assert "300 calls stayed under it (p99 12.00 ms) with the load generator late" in text


def test_rest_target_holds_the_echo_to_its_quiet_p99() -> None:
    """Waiting REST calls pass within 1.25 x (or +1 ms) of the p99 without them, with answers."""
    results = Results(["bench"], {0}, {1}, 20.0)
    quiet = replace(_row("audio_socket, no REST requests", 16.0, 5.0), path=STACK_PATH)
    busy = replace(
        _row("audio_socket, 20 calls waiting on REST (5 s)", 16.0, 5.0),
        path=STACK_PATH,
        rtt_p99_ms=3.9,
        rest_answered=40,
    )
    results.rest = [quiet, busy]
    rest = [t for t in targets(results) if "REST" in t.name]
    assert [t.passed for t in rest] == [True]
    results.rest = [quiet, replace(busy, rtt_p99_ms=4.1)]
    assert [t.passed for t in targets(results) if "REST" in t.name] == [False]
    results.rest = [quiet, replace(busy, rest_answered=0)]
    assert [t.passed for t in targets(results) if "REST" in t.name] == [False]
    assert "## The echo while calls wait on REST requests" in render(results)


def test_results_json_renders_the_same_report_again(tmp_path: Path) -> None:
    """RESULTS.json read back renders what the run rendered, recorded machine and code
    included; --render writes it without measuring, and a bad file is named."""
    results = Results(["bench"], {0}, {1}, 20.0, machine="2 CPUs (test)", code="commit abc")
    _sweep(results)
    results.caddy = [_stack(200, 4.6, 30.0, 20.0)]
    results.webhooks = WebhooksFigures(2000.0, 99.0, 200.0, 1.0, 2.0, 9.0, 0, 1.0)
    results.profile = Profile(
        calls=500,
        samples=10,
        waiting=5,
        busy={"send()": 3, "recv()": 1, "Python": 1, "event loop (C)": 0},
        top_python=[("FrameReader.feed (wire.py:171)", 1)],
    )
    raw = tmp_path / "RESULTS.json"
    save_results(results, raw)
    again = load_results(raw)
    assert render(again) == render(results)
    assert "- machine: 2 CPUs (test)" in render(again)
    out = tmp_path / "again" / "RESULTS.md"
    assert main(["--render", str(raw), "--out", str(out)]) == 0
    assert out.read_text() == render(results, "RESULTS-sweep.png")
    assert (tmp_path / "again" / "RESULTS-sweep.png").read_bytes().startswith(b"\x89PNG")
    raw.write_text("{}")
    assert main(["--render", str(raw), "--out", str(out)]) == 1
