"""Simulated calls through the containerised Caddy, and what the tests read off them.

The calls are the simulator's own (``simulator.call.Call``), as in
``tests/reliability/helpers.py``: signed webhooks, the NCCO, 20 ms frames at real-time
pace, ``disconnected`` → new ``connect`` when a socket closes under a live call. TLS
is verified against Caddy's local CA taken from its data volume.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient
from tests.reliability.helpers import ECHOING_FRAMES, echoed

#: Loose bound on anything a test waits for (a loaded 2-core machine).
TIMEOUT: Final = 30.0


class Calls:
    """Simulated calls of one length to ``base_url``; closed by ``aclose``."""

    def __init__(self, base_url: str, secret: str, cafile: Path, seconds: float) -> None:
        self.base_url = base_url
        self.seconds = seconds
        signer = Signer(secret)
        self.webhooks = WebhookClient(client_ssl_context(cafile), signer)
        self.pacer = Pacer()
        self.context = CallContext(self.webhooks, self.pacer, SignalCache(seconds), signer)
        self.calls: list[Call] = []
        self.tasks: list[asyncio.Task[object]] = []

    def place(self, count: int = 1) -> list[Call]:
        """Start ``count`` more calls."""
        first = len(self.calls)
        calls = [Call(self._options(first + i), self.context) for i in range(count)]
        self.calls.extend(calls)
        self.tasks.extend(asyncio.create_task(call.run()) for call in calls)
        return calls

    def _options(self, variant: int) -> CallOptions:
        # Not about the greeting: it takes no time (tests/e2e times it).
        return CallOptions(self.base_url, self.seconds, variant=variant, instant_talk=True)

    async def wait_echoing(self, calls: Iterable[Call], frames: int = ECHOING_FRAMES) -> None:
        """Until each call has had ``frames`` frames echoed."""
        calls = list(calls)
        deadline = time.monotonic() + TIMEOUT
        while not all(echoed(call) >= frames for call in calls):
            failed = [c.record.error for c in calls if c.record.error]
            assert not failed, failed
            assert time.monotonic() < deadline, "calls not echoing in time"
            await asyncio.sleep(0.02)

    async def reports(self, calls: Iterable[Call] | None = None) -> list[CallReport]:
        """Wait for the calls to end; their reports."""
        wanted = {id(call) for call in (self.calls if calls is None else calls)}
        pairs = [(c, t) for c, t in zip(self.calls, self.tasks, strict=True) if id(c) in wanted]
        await asyncio.wait_for(asyncio.gather(*(t for _, t in pairs)), self.seconds + TIMEOUT * 2)
        return [build_report(call.record) for call, _ in pairs]

    async def aclose(self) -> None:
        """Stop whatever still runs."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pacer.close()
        await self.webhooks.aclose()


@asynccontextmanager
async def calls_to(
    base_url: str, secret: str, cafile: Path, seconds: float
) -> AsyncIterator[Calls]:
    """``Calls`` closed on exit."""
    calls = Calls(base_url, secret, cafile, seconds)
    try:
        yield calls
    finally:
        await calls.aclose()
