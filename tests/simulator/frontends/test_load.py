"""``load``: calls spread over worker processes, a summary, a plot, its own lateness."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import build_parser
from simulator.errors import UsageError
from simulator.frontends import load
from simulator.frontends.load import load_main, resolve_loop, split_offsets
from simulator.setup import resolve
from tests.simulator.conftest import StartStack


def test_split_offsets() -> None:
    """Starts spread evenly over the ramp, dealt round-robin to the workers."""
    assert split_offsets(5, 1.0, 2) == [[0.0, 0.4, 0.8], [0.2, 0.6]]
    assert split_offsets(3, 0.0, 1) == [[0.0, 0.0, 0.0]]


def test_loop_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto takes uvloop when installed, asyncio when not; uvloop must be installed."""
    assert resolve_loop("asyncio") == "asyncio"
    assert resolve_loop("auto") == "uvloop"  # installed with the simulator extra
    assert resolve_loop("uvloop") == "uvloop"
    monkeypatch.setattr(load, "uvloop_factory", lambda: None)
    assert resolve_loop("auto") == "asyncio"
    with pytest.raises(UsageError, match="uvloop is not installed"):
        resolve_loop("uvloop")


def test_plot_without_matplotlib_is_refused_before_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--plot where only `make run`'s packages are installed: a usage error, no calls placed."""
    monkeypatch.setattr(load, "plot_available", lambda: False)
    monkeypatch.setattr(load, "run_workers", lambda *_: pytest.fail("calls were placed"))
    args = build_parser().parse_args(
        ["load", "https://localhost:8443", "--calls", "1", "--plot", "rtt.png", "--unsigned"]
    )
    with pytest.raises(UsageError, match=r"--plot needs matplotlib.*make setup"):
        load.load_command(args, resolve(args))


@pytest.mark.parametrize(("loop", "used"), [("auto", "uvloop"), ("asyncio", "asyncio")])
async def test_short_load_run(
    start_stack: StartStack,
    capsys: pytest.CaptureFixture[str],
    isolated: Path,
    loop: str,
    used: str,
) -> None:
    """Four calls over two worker processes: all pass, nothing lost, a plot drawn."""
    stack = await start_stack()
    assert stack.cert is not None
    plot = isolated / "rtt.png"
    argv = [
        "load",
        stack.hooks.base_url,
        "--calls",
        "4",
        "--seconds",
        "1",
        "--ramp",
        "0.2",
        "--workers",
        "2",
        "--loop",
        loop,
        "--json",
        "--plot",
        str(plot),
        "--secret-file",
        str(stack.secret_file),
        "--cafile",
        str(stack.cert.root),
    ]
    status = await asyncio.to_thread(load_main, build_parser().parse_args(argv))
    summary = json.loads(capsys.readouterr().out)
    assert status in (0, 3), summary
    assert status == 0 or summary["slipped"]
    assert summary["calls_passed"] == 4
    assert summary["frames_sent"] == 200
    assert summary["frames_lost"] == 0
    assert set(summary["round_trip_ms"]) == {"p50", "p90", "p99", "max"}
    assert len(summary["worker_lateness_p99_ms"]) == 2
    assert summary["event_loop"] == used
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(stack.hooks.received("/webhooks/answer")) == 4
    assert np.isfinite(summary["send_lateness_ms"]["p99"])
