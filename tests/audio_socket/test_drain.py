"""Draining on SIGTERM, against the real process: no new calls, live ones go on."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.audio_socket.helpers import close_of, http_get, open_call
from tests.audio_socket.process import audio_service

pytestmark = pytest.mark.timeout(60)


async def test_live_call_outlives_sigterm_and_the_process_exits_when_it_ends(
    tmp_path: Path,
) -> None:
    """After SIGTERM a live call keeps echoing, new calls and health are refused, exit 0."""
    async with audio_service(tmp_path, DRAIN_TIMEOUT="30") as service:
        async with open_call(service.port, "live") as ws:
            frame = os.urandom(640)
            await ws.send(frame)
            assert await ws.recv() == frame
            service.signal(signal.SIGTERM)
            assert (await service.wait_for_log("draining"))["calls"] == 1
            with pytest.raises(OSError):  # noqa: PT011 - refused: the listener is closed
                async with open_call(service.port, "new"):
                    pass
            with pytest.raises(OSError):  # noqa: PT011 - so the health check fails too
                await http_get(service.port, "/healthz")
            for _ in range(10):
                frame = os.urandom(640)
                await ws.send(frame)
                assert await ws.recv() == frame
            assert service.process.returncode is None
        assert await service.exit_status() == 0
        ended = await service.wait_for_log("call ended")
        assert (ended["call_uuid"], ended["outcome"], ended["frames_in"]) == (
            "live",
            "completed",
            11,
        )


async def test_drain_timeout_closes_remaining_calls_1001(tmp_path: Path) -> None:
    """At DRAIN_TIMEOUT the calls still live are closed with 1001, then exit 0."""
    async with audio_service(tmp_path, DRAIN_TIMEOUT="0.5") as service:
        async with open_call(service.port, "a") as a, open_call(service.port, "b") as b:
            await a.send(bytes(640))
            await b.send(bytes(640))
            await a.recv()
            await b.recv()
            loop = asyncio.get_running_loop()
            signalled = loop.time()
            service.signal(signal.SIGTERM)
            assert await close_of(a) == (1001, "server draining")
            assert await close_of(b) == (1001, "server draining")
            waited = loop.time() - signalled
        assert 0.4 <= waited < 10
        assert await service.exit_status() == 0
        outcomes = [r["outcome"] for r in service.logs if r.get("message") == "call ended"]
        assert outcomes == ["drained", "drained"]


async def test_second_signal_closes_calls_at_once(tmp_path: Path) -> None:
    """A second SIGTERM does not wait for DRAIN_TIMEOUT: calls close with 1001 now."""
    async with audio_service(tmp_path, DRAIN_TIMEOUT="120") as service:
        async with open_call(service.port) as ws:
            await ws.send(bytes(640))
            await ws.recv()
            service.signal(signal.SIGTERM)
            await service.wait_for_log("draining")
            service.signal(signal.SIGTERM)
            assert await close_of(ws) == (1001, "server draining")
        assert await service.exit_status() == 0
