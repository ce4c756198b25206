"""A Caddy replica replaced under live calls, as a Kubernetes rollout of Caddy does.

Two Caddy processes serve the same site on the same port (Caddy listens with
SO_REUSEPORT, so the kernel spreads new connections over both, as a load balancer
spreads them over Caddy pods) with the same Caddyfile and state folder. One gets
SIGTERM, as the kubelet sends it: the calls through it are cut, Vonage's side posts
``disconnected`` and the reconnect goes through the other Caddy. The calls through the
other one are untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Iterator

import pytest

from stack import Stack
from stack.caddy import CaddyAdmin, caddy_argv, caddy_environment
from stack.paths import find_tool
from stack.processes import ManagedProcess
from tests.reliability.helpers import TIMEOUT, assert_clean, call_group

pytestmark = pytest.mark.reliability

LIVE_CALLS = 12
CALL_SECONDS = 10.0
GAP_BUDGET_MS = 1000.0


@pytest.fixture
def second_caddy(stack2: Stack) -> Iterator[tuple[ManagedProcess, CaddyAdmin]]:
    """Another Caddy beside the stack's: same site, port, Caddyfile and data; own admin."""
    # Its own admin socket, beside the stack's in the same 0700 state folder.
    admin_socket = stack2.paths.caddy_admin.with_name("admin-2.sock")
    admin_socket.unlink(missing_ok=True)
    placeholders = dataclasses.replace(stack2.placeholders, admin_socket=admin_socket)
    env = caddy_environment(placeholders, stack2.paths, stack2.config.environ)
    process = ManagedProcess(
        "caddy-2",
        caddy_argv(find_tool("caddy")),
        env,
        cwd=stack2.paths.root,
        log_path=stack2.paths.logs / "caddy-2.log",
    )
    admin = CaddyAdmin(admin_socket)
    process.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not admin.is_up():
            assert process.alive, process.exit_report()
            assert time.monotonic() < deadline, "the second Caddy's admin API did not answer"
            time.sleep(0.05)
        yield process, admin
    finally:
        process.stop(timeout=15.0)


def _sockets_through(admin: CaddyAdmin, stack: Stack) -> int:
    """Requests in flight from this Caddy to the audio replicas: its open call sockets."""
    replicas = {f"{r.address}:{stack.placeholders.audio_port}" for r in stack.replicas}
    # Caddy lists a dynamic upstream once per place it is known: count each address once.
    requests = {u["address"]: u["num_requests"] for u in admin.upstreams()}
    return sum(count for address, count in requests.items() if address in replicas)


async def test_calls_through_a_stopped_caddy_reconnect_through_the_other(
    stack2: Stack, second_caddy: tuple[ManagedProcess, CaddyAdmin]
) -> None:
    """SIGTERM to one of two Caddys: its calls reconnect through the other, gap measured."""
    process, admin = second_caddy
    async with call_group(stack2, seconds=CALL_SECONDS) as group:
        live = group.place(LIVE_CALLS)
        await group.wait_echoing(live)
        through_second = await asyncio.to_thread(_sockets_through, admin, stack2)
        through_first = await asyncio.to_thread(_sockets_through, stack2.admin, stack2)
        assert through_first + through_second == LIVE_CALLS
        assert through_second > 0, "the kernel gave the second Caddy no call: place more"
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        exited = await asyncio.to_thread(process.wait, TIMEOUT)
        stop_seconds = time.monotonic() - stopped_at
        reports = await group.reports()
    assert exited, "the second Caddy did not stop on SIGTERM"
    for report in reports:
        assert_clean(report)
    moved = [report for report in reports if report.reconnects]
    assert len(moved) == through_second
    gaps = []
    for report in moved:
        [reconnect] = report.reconnects
        assert reconnect.audio_resumed
        assert reconnect.gap_ms is not None
        gaps.append(float(reconnect.gap_ms))
    assert max(gaps) < GAP_BUDGET_MS, gaps
    print(  # the figures deploy/kubernetes/README.md quotes (pytest -s)
        f"caddy replaced: {len(moved)} of {LIVE_CALLS} calls reconnected through the other,"
        f" gaps ms {sorted(round(g) for g in gaps)}; SIGTERM to exit {stop_seconds:.2f} s"
    )
