"""Simulated calls through a local stack, and what the tests read off the services.

Calls are the simulator's own (``simulator.call.Call``): signed webhooks, the NCCO
run, 20 ms frames at real-time pace, ``disconnected`` → new ``connect`` on a server
close. They run on the test's event loop, so anything blocking goes to a thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import numpy as np

from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions
from simulator.vonage.signing import Signer
from simulator.vonage.stream import FRAME_SECONDS
from simulator.vonage.webhook import WebhookClient
from stack import Replica, Stack
from tests.e2e.helpers import calls_active

#: Loose bound on anything the tests wait for (a loaded 2-core machine).
TIMEOUT = 20.0
#: Half a second of echo: a call is up and streaming.
ECHOING_FRAMES = 25


class CallGroup:
    """Simulated calls of one length placed through ``stack``; closed by ``aclose``."""

    def __init__(self, stack: Stack, seconds: float) -> None:
        self.stack = stack
        self.seconds = seconds
        self.signer = Signer(stack.secrets.vonage_signature_secret)
        self.webhooks = WebhookClient(client_ssl_context(stack.cafile), self.signer)
        self.pacer = Pacer()
        self.context = CallContext(self.webhooks, self.pacer, SignalCache(seconds), self.signer)
        self.calls: list[Call] = []
        self.tasks: list[asyncio.Task[object]] = []

    def place(self, count: int, *, instant_talk: bool = True) -> list[Call]:
        """Start ``count`` more calls at once (the simulator staggers their set-up).

        ``instant_talk=False`` speaks each ``talk`` for as long as Vonage would.
        """
        calls = [
            Call(
                # Not about the greeting: it takes no time (the e2e call times it).
                CallOptions(
                    self.stack.base_url,
                    self.seconds,
                    variant=len(self.calls) + i,
                    instant_talk=instant_talk,
                ),
                self.context,
            )
            for i in range(count)
        ]
        self.calls.extend(calls)
        self.tasks.extend(asyncio.create_task(call.run()) for call in calls)
        return calls

    async def wait_echoing(self, calls: Iterable[Call], frames: int = ECHOING_FRAMES) -> None:
        """Until each call has had ``frames`` frames echoed."""
        calls = list(calls)
        deadline = time.monotonic() + TIMEOUT
        while not all(echoed(call) >= frames for call in calls):
            failed = [c.record.error for c in calls if c.record.error]
            assert not failed, failed
            assert time.monotonic() < deadline, "calls not echoing in time"
            await asyncio.sleep(0.02)

    async def wait_sent(self, calls: Iterable[Call], seconds: float) -> None:
        """Until each call has sent ``seconds`` of audio."""
        calls = list(calls)
        deadline = time.monotonic() + TIMEOUT + seconds
        while not all(sent_s(c) >= seconds for c in calls):
            assert time.monotonic() < deadline, "calls not streaming in time"
            await asyncio.sleep(0.02)

    async def reports(self, calls: Iterable[Call] | None = None) -> list[CallReport]:
        """Wait for the calls to end; their reports."""
        wanted = set(map(id, calls if calls is not None else self.calls))
        tasks = [t for c, t in zip(self.calls, self.tasks, strict=True) if id(c) in wanted]
        await asyncio.wait_for(asyncio.gather(*tasks), self.seconds + TIMEOUT * 2)
        return [build_report(c.record) for c in self.calls if id(c) in wanted]

    async def aclose(self) -> None:
        """Stop whatever still runs."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pacer.close()
        await self.webhooks.aclose()


@asynccontextmanager
async def call_group(stack: Stack, seconds: float) -> AsyncIterator[CallGroup]:
    """A ``CallGroup`` closed on exit."""
    group = CallGroup(stack, seconds)
    try:
        yield group
    finally:
        await group.aclose()


def echoed(call: Call) -> int:
    """Frames of ``call`` echoed so far."""
    audio = call.record.audio
    return 0 if audio is None else audio.received


def sent_s(call: Call) -> float:
    """Seconds of audio ``call`` has sent so far."""
    audio = call.record.audio
    return 0.0 if audio is None else audio.next * FRAME_SECONDS


def max_echo_interval_ms(call: Call) -> float:
    """Longest wait between two consecutive echoed frames: a gap shows here."""
    audio = call.record.audio
    assert audio is not None
    times = np.array([t for t in audio.recv_at if t > 0])
    return float(np.diff(np.sort(times)).max() * 1000) if times.size > 1 else 0.0


def first_echo_s(call: Call) -> float:
    """Seconds from the call's start (answer request) to its first echoed frame."""
    audio = call.record.audio
    assert audio is not None
    times = [t for t in audio.recv_at if t > 0]
    return min(times) - call.record.started_at


def assert_clean(report: CallReport) -> None:
    """Passed: every frame echoed byte-exact and in order, outside reconnect gaps."""
    assert report.passed, report.error
    assert report.frames.lost_outside_gaps == 0
    assert report.frames.out_of_order == report.frames.duplicates == 0
    assert report.echo.byte_exact


async def active_per_replica(replicas: Iterable[Replica]) -> list[int]:
    """``audio_calls_active`` of each replica (read from its own /metrics)."""
    return list(await asyncio.gather(*(asyncio.to_thread(calls_active, r) for r in replicas)))


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples named exactly ``name`` (any labels) at ``url``."""
    text = httpx.get(url, timeout=TIMEOUT, trust_env=False).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def healthy(url: str) -> bool:
    """``GET url/healthz`` answers 200."""
    try:
        return httpx.get(f"{url}/healthz", timeout=5.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def assert_services_healthy(stack: Stack) -> None:
    """Webhooks and every running replica answer their health check."""
    assert healthy(stack.webhooks_url)
    for replica in stack.replicas:
        if replica.process.alive:
            assert healthy(replica.url), replica.name


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


#: Each call placed alongside hostile input: long enough to overlap it, short enough
#: that the next one starts soon.
ALONGSIDE_SECONDS = 2.0


@asynccontextmanager
async def calls_alongside(stack: Stack) -> AsyncIterator[list[CallReport]]:
    """Simulated calls back to back while the body runs; on exit, each must have passed
    and every service must still answer its health check."""
    reports: list[CallReport] = []
    stop = asyncio.Event()
    echoing = asyncio.Event()

    async def place_until_stopped() -> None:
        async with call_group(stack, ALONGSIDE_SECONDS) as group:
            while not stop.is_set():
                [call] = group.place(1)
                await group.wait_echoing([call])
                echoing.set()
                reports.extend(await group.reports([call]))

    task = asyncio.create_task(place_until_stopped())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not echoing.is_set():
            if task.done():
                task.result()  # its failure, raised here
            assert time.monotonic() < deadline, "the call alongside never got going"
            await asyncio.sleep(0.02)
        yield reports
    finally:
        stop.set()  # the call under way ends as a caller would end it
        try:
            await asyncio.wait_for(task, ALONGSIDE_SECONDS + TIMEOUT)
        finally:
            task.cancel()
    assert reports, "no call alongside ended"
    for report in reports:
        assert_clean(report)
    await asyncio.to_thread(assert_services_healthy, stack)


def socket_credential(secret: str, call_uuid: str, **overrides: Any) -> str:
    """``Authorization`` of a socket upgrade: the per-call JWT (docs/contract.md)."""
    now = int(time.time())
    claims = {
        "sub": call_uuid,
        "aud": "audio_socket",
        "iss": "webhooks",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "attempt": 1,
    } | overrides
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def unsigned_token(claims: dict[str, Any]) -> str:
    """A JWT with ``alg: none`` and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def socket_uri(stack: Stack) -> str:
    """``wss://localhost:PORT/socket``, through Caddy."""
    return stack.base_url.replace("https://", "wss://") + "/socket"
