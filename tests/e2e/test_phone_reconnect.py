"""The browser phone's server through a reconnect: the serving replica is killed under a
call placed from the page (a stand-in client here, pacing frames as the page does), the
call moves to another replica, and the page is told the reconnect and its gap."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulator.frontends.phone.server import Phone, PhoneServer
from simulator.net import client_ssl_context
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient
from stack import Stack
from tests.e2e.helpers import TIMEOUT, calls_active, wait_idle

pytestmark = pytest.mark.e2e


async def speak(page: ClientConnection, frame_bytes: int, stop: asyncio.Event) -> None:
    """Frames on a 20 ms grid, as the page sends them, until told to stop."""
    due = time.monotonic()
    number = 0
    while not stop.is_set():
        number += 1
        try:
            await page.send(number.to_bytes(4, "little") * (frame_bytes // 4))
        except ConnectionClosed:
            return  # the call is over
        due += 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def test_the_page_sees_a_reconnect_and_its_gap(stack3: Stack) -> None:
    """Kill the replica under the phone's call: disconnected, leg 2, the gap, echo exact."""
    wait_idle(stack3)
    signer = Signer(stack3.secrets.vonage_signature_secret)
    webhooks = WebhookClient(client_ssl_context(stack3.cafile), signer)
    server = PhoneServer(Phone(stack3.base_url, webhooks, signer, instant_talk=True))
    await server.start()
    messages: list[dict[str, Any]] = []
    stop = asyncio.Event()
    killed = None
    try:
        uri = f"ws://127.0.0.1:{server.port}/call"
        async with connect(uri, origin=f"http://127.0.0.1:{server.port}") as page:  # type: ignore[arg-type]
            first = json.loads(await asyncio.wait_for(page.recv(), TIMEOUT))
            while first["type"] != "rate":
                messages.append(first)
                first = json.loads(await asyncio.wait_for(page.recv(), TIMEOUT))
            speaking = asyncio.create_task(speak(page, first["frame_bytes"], stop))
            entry = server.phone.calls[0]
            deadline = time.monotonic() + TIMEOUT
            while entry.audio.received < 25:
                assert time.monotonic() < deadline, "no echo through the stack"
                await asyncio.sleep(0.02)
            active = await asyncio.gather(
                *(asyncio.to_thread(calls_active, r) for r in stack3.replicas)
            )
            (killed,) = [r for r, n in zip(stack3.replicas, active, strict=True) if n == 1]
            await asyncio.to_thread(stack3.testing.kill_replica, killed)
            heard_after: list[bytes] = []
            deadline = time.monotonic() + TIMEOUT
            while not any(m.get("gaps_s") for m in messages if m["type"] == "stats"):
                assert time.monotonic() < deadline, "the page was never told the gap"
                message = await asyncio.wait_for(page.recv(), TIMEOUT)
                if isinstance(message, bytes):
                    heard_after.append(message)
                else:
                    messages.append(json.loads(message))
            await page.send('{"hangup": true}')
            async for message in page:
                if isinstance(message, str):
                    messages.append(json.loads(message))
            stop.set()
            await speaking
    finally:
        stop.set()
        await server.close()
        await webhooks.aclose()
        if killed is not None:
            await asyncio.to_thread(stack3.testing.start_replica, killed)
    lines = [m["line"] for m in messages if m["type"] == "progress"]
    assert any(line.startswith("disconnected:") for line in lines), lines
    assert any("(leg 2," in line for line in lines), lines
    [gap] = next(m["gaps_s"] for m in messages if m["type"] == "stats" and m["gaps_s"])
    assert 0 < gap < 2.0
    assert heard_after, "the echo resumed on the new leg"
    report = next(m["report"] for m in messages if m["type"] == "report")
    assert report["passed"], report["error"]
    assert report["echo"]["byte_exact"]
    assert [leg["attempt"] for leg in report["legs"]] == [1, 2]
    assert page.close_code == 1000
