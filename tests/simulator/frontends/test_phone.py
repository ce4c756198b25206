"""The browser phone's server (frontends/phone/server.py): its page, the hosts and origins it
answers, and a call's answers to bad input, without a stack (the answer URL refuses)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator.frontends.phone.live import LiveAudio
from simulator.frontends.phone.server import MAX_CALLS, Phone, PhoneServer, reconnect_gaps
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions, LegRecord
from simulator.vonage.webhook import WebhookClient


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def server() -> AsyncIterator[PhoneServer]:
    """A phone whose calls go to a stack that is not there."""
    webhooks = WebhookClient(ssl.create_default_context(), None, retry_backoff=0.05)
    phone = Phone(f"http://127.0.0.1:{closed_port()}", webhooks, None, instant_talk=True)
    started = PhoneServer(phone)
    await started.start()
    try:
        yield started
    finally:
        await started.close()
        await webhooks.aclose()


async def test_the_page_and_its_scripts(server: PhoneServer) -> None:
    """The page and its three scripts, each with its type and a CSP; 404 for the rest."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert 'id="hangup"' in page.text
        for script in ("phone.js", "capture.js", "player.js"):
            answer = await client.get(f"/{script}")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/javascript")
        missing = await client.get("/etc/passwd")
        assert missing.status_code == 404


async def test_another_host_is_refused(server: PhoneServer) -> None:
    """A rebound DNS name (another Host) gets 421, not the page."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get("/", headers={"Host": "evil.example"})
    assert answer.status_code == 421
    assert "unknown host" in answer.text


async def test_another_origin_cannot_place_calls(server: PhoneServer) -> None:
    """A page from another site gets 403 on /call; no call is placed."""
    uri = f"ws://127.0.0.1:{server.port}/call"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(uri, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert server.phone.calls == []


async def _read_all(page: ClientConnection) -> None:
    while True:
        await page.recv()


def _origin(server: PhoneServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def test_audio_before_the_rate_ends_the_call_with_1007(server: PhoneServer) -> None:
    """A frame before the connect set the rate: close 1007 with the reason."""
    uri = f"ws://127.0.0.1:{server.port}/call"
    async with connect(uri, origin=_origin(server)) as page:  # type: ignore[arg-type]
        await page.send(bytes(640))
        with pytest.raises(ConnectionClosed):
            await _read_all(page)
    assert page.close_code == 1007
    assert page.close_reason == "audio before the call's rate was sent"


async def test_a_failed_call_is_reported_to_the_page(server: PhoneServer) -> None:
    """The answer URL refuses: progress, then the report with its error, then 1000."""
    uri = f"ws://127.0.0.1:{server.port}/call"
    messages = []
    async with connect(uri, origin=_origin(server)) as page:  # type: ignore[arg-type]
        await page.send('{"dtmf": "x"}')
        async for message in page:
            messages.append(json.loads(message))
    assert page.close_code == 1000
    assert messages[0] == {"type": "error", "error": 'unknown command \'{"dtmf": "x"}\''}
    report = next(m["report"] for m in messages if m["type"] == "report")
    assert report["passed"] is False
    assert "refused" in report["error"]


async def test_calls_at_once_are_bounded(server: PhoneServer) -> None:
    """Beyond MAX_CALLS the upgrade gets 503 and says why."""
    server.phone.active = MAX_CALLS
    uri = f"ws://127.0.0.1:{server.port}/call"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(uri, origin=_origin(server)):  # type: ignore[arg-type]
            pass
    server.phone.active = 0
    assert refused.value.response.status_code == 503


def test_reconnect_gaps_run_from_the_last_frame_back_to_the_first_after() -> None:
    """Two legs: the gap is from the old leg's last echo to the new leg's first."""
    webhooks = WebhookClient(ssl.create_default_context(), None)
    audio = LiveAudio()
    call = Call(
        CallOptions("https://localhost:1"),
        CallContext(webhooks, Pacer(), SignalCache(0.02), None),
        audio,
    )
    audio.n = 6
    audio.recv_at = [1.0, 1.02, 0.0, 0.0, 1.5, 1.52]
    call.record.legs = [
        LegRecord(1, "wss://a", 1, first_frame=0),
        LegRecord(2, "wss://a", 2, first_frame=2),
    ]
    assert reconnect_gaps(call) == [0.48]
