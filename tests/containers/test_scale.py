"""Scaling, draining, a killed replica and a Caddy reload, with live calls, in containers.

One project for the module, scaled as each test needs (``up --scale`` with
``--no-recreate``: the command docs/deploy.md gives).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.reports.call_report import CallReport
from simulator.vonage.call import Call
from tests.containers.calls import TIMEOUT, calls_to
from tests.containers.conftest import new_project
from tests.containers.engine import Engine
from tests.containers.project import DRAIN_TIMEOUT, Project
from tests.containers.replicas import active_per_replica, wait_audio_ready
from tests.reliability.helpers import assert_clean, echoed, max_echo_interval_ms

#: A reconnect's audio gap, in containers on a loaded 2-core machine (the local stack's
#: reliability tests see 26-161 ms).
GAP_BUDGET_MS = 3000.0
#: Longest wait between two echoed frames of a call that must not be disturbed.
NO_GAP_MS = 500.0


@pytest.fixture(scope="module")
def scaled(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The tier's project, up with three audio replicas, ``down -v`` at the end."""
    project = new_project(engine, tmp_path_factory.mktemp("scaled"))
    try:
        project.up("--scale", "audio=3")
        yield project
    finally:
        project.down()


async def scale(project: Project, replicas: int) -> list[Any]:
    """``up --scale audio=N``, then until N replicas are healthy and resolvable."""
    await asyncio.to_thread(project.up, "--scale", f"audio={replicas}")
    return await asyncio.to_thread(wait_audio_ready, project, replicas)


async def wait_socket_open(call: Call) -> None:
    """Until the call's WebSocket leg is open."""
    deadline = time.monotonic() + TIMEOUT
    while not (call.record.legs and call.record.legs[-1].opened_at is not None):
        assert call.record.error is None, call.record.error
        assert time.monotonic() < deadline, "the call's socket did not open in time"
        await asyncio.sleep(0.02)


async def test_six_calls_land_two_on_each_of_three_replicas(scaled: Project) -> None:
    """Least connections: calls started one after another spread evenly."""
    replicas = await scale(scaled, 3)
    async with calls_to(scaled.base_url, *_credentials(scaled), seconds=6.0) as calls:
        for _ in range(6):
            [call] = calls.place(1)
            await wait_socket_open(call)
        assert sorted(await active_per_replica(scaled, replicas)) == [2, 2, 2]
        reports = await calls.reports()
    for report in reports:
        assert_clean(report)
        assert report.reconnects == []


async def test_scale_down_under_live_calls_loses_nothing(scaled: Project) -> None:
    """3 -> 1 under six live calls: the removed replicas drain, cut what is left at
    DRAIN_TIMEOUT with 1001, and those calls reconnect to the survivor."""
    replicas = await scale(scaled, 3)
    async with calls_to(scaled.base_url, *_credentials(scaled), seconds=DRAIN_TIMEOUT + 8) as calls:
        for _ in range(6):
            [call] = calls.place(1)
            await wait_socket_open(call)
        await calls.wait_echoing(calls.calls)
        before = await active_per_replica(scaled, replicas)
        started = time.monotonic()
        [survivor] = await scale(scaled, 1)
        scaled_down_s = time.monotonic() - started
        reports = await calls.reports()
    for report in reports:
        assert_clean(report)
    survivors = before[[r["Id"] for r in replicas].index(survivor["Id"])]
    moved = [report for report in reports if report.reconnects]
    assert len(moved) == sum(before) - survivors, before
    gaps = [_gap(report) for report in moved]
    assert max(gaps) < GAP_BUDGET_MS, gaps
    print(
        f"scale 3->1: {len(moved)} calls drained and reconnected, gaps ms"
        f" {sorted(round(g) for g in gaps)}; up --scale took {scaled_down_s:.1f} s"
    )


async def test_killed_container_call_reconnects_elsewhere(scaled: Project) -> None:
    """SIGKILL of the container serving a call: the call reconnects to another replica."""
    replicas = await scale(scaled, 2)
    async with calls_to(scaled.base_url, *_credentials(scaled), seconds=8.0) as calls:
        [call] = calls.place(1)
        await calls.wait_echoing([call])
        active = await active_per_replica(scaled, replicas)
        assert sorted(active) == [0, 1]
        victim = replicas[active.index(1)]
        await asyncio.to_thread(scaled.kill, victim["Id"])
        [report] = await calls.reports()
    assert_clean(report)
    [reconnect] = report.reconnects
    assert reconnect.audio_resumed
    gap = _gap(report)
    assert gap < GAP_BUDGET_MS
    print(f"SIGKILL of the serving container: reconnected, gap {gap:.0f} ms")


async def test_caddy_reload_drops_no_call(scaled: Project) -> None:
    """`caddy reload` inside the Caddy container, twice, under live calls: none cut."""
    await scale(scaled, 2)
    async with calls_to(scaled.base_url, *_credentials(scaled), seconds=6.0) as calls:
        live = calls.place(4)
        await calls.wait_echoing(live)
        for _ in range(2):
            # --force: the config is unchanged, and Caddy skips an identical one.
            reload = ("caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter")
            await asyncio.to_thread(scaled.exec, "caddy", *reload, "caddyfile", "--force")
            await calls.wait_echoing(live, frames=max(echoed(c) for c in live) + 25)
        reports = await calls.reports()
    for report in reports:
        assert_clean(report)
        assert report.reconnects == []
        assert report.frames.lost == 0
    intervals = [max_echo_interval_ms(call) for call in live]
    assert max(intervals) < NO_GAP_MS, intervals
    print(f"caddy reload x2: longest wait between echoed frames {max(intervals):.0f} ms")


def _credentials(project: Project) -> tuple[str, Path]:
    return project.variables["VONAGE_SIGNATURE_SECRET"], project.cafile()


def _gap(report: CallReport) -> float:
    [reconnect] = report.reconnects
    assert reconnect.gap_ms is not None
    return float(reconnect.gap_ms)
