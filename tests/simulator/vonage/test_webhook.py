"""The webhook client: Vonage's timeouts, its retry rules and the fallback URL."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator.errors import NccoError, WebhookError
from simulator.net import client_ssl_context
from simulator.vonage.ncco import Connect, Talk
from simulator.vonage.webhook import Exchange, Timeouts, WebhookClient
from tests.simulator.certs import make_server_cert
from tests.simulator.fakes import FakeWebhooks, Reply, Request, Route

NCCO = [{"action": "talk", "text": "hi"}]
FAST = 0.05  # seconds between attempts, where the backoff is not what a test is about


@pytest.fixture
async def hooks() -> AsyncIterator[FakeWebhooks]:
    """A fake application on loopback, plain HTTP."""
    fake = await FakeWebhooks().start()
    yield fake
    await fake.close()


@pytest.fixture
async def fallback() -> AsyncIterator[FakeWebhooks]:
    """A second application: the fallback URL's."""
    fake = await FakeWebhooks().start()
    yield fake
    await fake.close()


def client(backoff: float = FAST, **timeouts: float) -> WebhookClient:
    """A client trusting the system roots, unsigned."""
    return WebhookClient(ssl.create_default_context(), None, Timeouts(**timeouts), backoff)


def answering(*replies: Reply) -> tuple[list[float], Route]:
    """A route giving ``replies`` in turn (the last one again after), and when each came."""
    times: list[float] = []

    async def route(_request: Request) -> Reply:
        times.append(time.monotonic())
        return replies[min(len(times), len(replies)) - 1]

    return times, route


def test_vonage_default_timeouts() -> None:
    """Connect 1 s, answer 5 s, event 10 s; each within the range Vonage accepts."""
    assert Timeouts() == Timeouts(connect=1.0, answer=5.0, event=10.0)
    assert Timeouts().outside_vonage() == []
    assert Timeouts(answer=0.3).outside_vonage() == ["answer 0.3 s (Vonage: 1-5 s)"]


async def test_answer_retried_about_a_second_later_on_503(hooks: FakeWebhooks) -> None:
    """503 then 200: two requests about a second apart, and the NCCO."""
    times, hooks.answer = answering((503, None), (200, NCCO))
    webhooks = client(backoff=1.0)
    try:
        log: list[Exchange] = []
        ncco = await webhooks.answer(f"{hooks.base_url}/webhooks/answer", {}, post=False, log=log)
    finally:
        await webhooks.aclose()
    assert ncco == [Talk("hi")]
    assert len(times) == 2
    assert 0.9 <= times[1] - times[0] < 3.0
    assert [e.status for e in log] == [503, 200]


@pytest.mark.parametrize("status", [404, 401, 500])
async def test_answer_not_retried_on_other_statuses(hooks: FakeWebhooks, status: int) -> None:
    """A status other than 429/503/504 is not retried at the same URL."""
    times, hooks.answer = answering((status, None))
    webhooks = client()
    try:
        with pytest.raises(WebhookError, match=f"answered HTTP {status}"):
            await webhooks.answer(f"{hooks.base_url}/webhooks/answer", {}, post=False, log=[])
    finally:
        await webhooks.aclose()
    assert len(times) == 1


async def test_answer_not_retried_on_an_unparsable_ncco(hooks: FakeWebhooks) -> None:
    """200 with a body that is no NCCO: NccoError, one request only."""
    times, hooks.answer = answering((200, {"not": "an array"}))
    webhooks = client()
    try:
        with pytest.raises(NccoError, match="JSON array"):
            await webhooks.answer(f"{hooks.base_url}/webhooks/answer", {}, post=True, log=[])
    finally:
        await webhooks.aclose()
    assert len(times) == 1


async def test_invalid_url_not_retried() -> None:
    """An answer URL that is not http(s): one attempt, not retried."""
    webhooks = client()
    log: list[Exchange] = []
    try:
        with pytest.raises(WebhookError, match="invalid webhook URL") as caught:
            await webhooks.answer("ftp://127.0.0.1/answer", {}, post=False, log=log)
    finally:
        await webhooks.aclose()
    assert caught.value.retry is False
    assert len(log) == 1


async def test_certificate_error_not_retried(tmp_path: Path) -> None:
    """An untrusted certificate: one attempt, not retried."""
    cert = make_server_cert(tmp_path, self_signed=True)
    hooks = await FakeWebhooks(ssl_context=cert.server_context(), host="localhost").start()
    webhooks = WebhookClient(client_ssl_context(None), None, Timeouts(), FAST)
    log: list[Exchange] = []
    try:
        with pytest.raises(WebhookError, match="untrusted certificate") as caught:
            await webhooks.answer(f"{hooks.base_url}/webhooks/answer", {}, post=False, log=log)
    finally:
        await webhooks.aclose()
        await hooks.close()
    assert caught.value.retry is False
    assert len(log) == 1


async def test_answer_falls_back_after_two_failures(
    hooks: FakeWebhooks, fallback: FakeWebhooks
) -> None:
    """Two timeouts at the answer URL, then the fallback URL answers the NCCO."""
    hooks.answer = hooks.hang
    _, fallback.answer = answering((200, NCCO))
    webhooks = client(answer=0.2)
    log: list[Exchange] = []
    try:
        ncco = await webhooks.answer(
            f"{hooks.base_url}/webhooks/answer",
            {"uuid": "u"},
            post=True,
            fallback_url=f"{fallback.base_url}/webhooks/answer",
            log=log,
        )
    finally:
        await webhooks.aclose()
    assert ncco == [Talk("hi")]
    assert [e.error for e in log] == ["timeout", "timeout", None]
    assert fallback.received("/webhooks/answer")[0].fields() == {"uuid": "u"}


async def test_synchronous_event_twice_then_fallback_twice(
    hooks: FakeWebhooks, fallback: FakeWebhooks
) -> None:
    """An event expecting an NCCO: its URL twice, the fallback twice, then WebhookError."""
    first, hooks.events = answering((500, None))
    second, fallback.events = answering((503, None))
    webhooks = client()
    log: list[Exchange] = []
    try:
        with pytest.raises(WebhookError, match="answered HTTP 503"):
            await webhooks.expect_ncco(
                f"{hooks.base_url}/webhooks/events",
                {"status": "disconnected"},
                fallback_url=f"{fallback.base_url}/webhooks/events",
                leg=1,
                log=log,
            )
    finally:
        await webhooks.aclose()
    assert (len(first), len(second)) == (2, 2)
    assert [e.leg for e in log] == [1, 1, 1, 1]


async def test_synchronous_event_retried_then_answered(hooks: FakeWebhooks) -> None:
    """A 503 to disconnected, then the reconnect NCCO on the second try."""
    connect = {
        "action": "connect",
        "endpoint": [
            {"type": "websocket", "uri": "ws://h/s", "content-type": "audio/l16;rate=8000"}
        ],
    }
    times, hooks.events = answering((503, None), (200, [connect]))
    webhooks = client()
    log: list[Exchange] = []
    try:
        ncco = await webhooks.expect_ncco(
            f"{hooks.base_url}/webhooks/events", {"status": "disconnected"}, log=log
        )
    finally:
        await webhooks.aclose()
    assert ncco is not None
    assert isinstance(ncco[0], Connect)
    assert len(times) == 2
    assert log[-1].ncco is True


async def test_notification_fails_quietly_within_its_timeout(hooks: FakeWebhooks) -> None:
    """A notification to a hanging webhook: an exchange with its error, never an exception."""
    hooks.events = hooks.hang
    webhooks = client(event=0.3)
    started = time.monotonic()
    try:
        exchange = await webhooks.notify(
            f"{hooks.base_url}/webhooks/events", {"status": "started"}, log=[]
        )
    finally:
        await webhooks.aclose()
    assert exchange.error == "timeout"
    assert time.monotonic() - started < 3.0
    assert len(hooks.received("/webhooks/events")) == 1  # notifications are not retried


async def test_get_omits_nulls_and_sends_objects_as_json(hooks: FakeWebhooks) -> None:
    """A GET event: null fields left out (a query has no null), objects as JSON text."""
    webhooks = client()
    try:
        await webhooks.notify(
            f"{hooks.base_url}/webhooks/events",
            {"status": "answered", "rate": None, "headers": {"a": 1}},
            method="GET",
            log=[],
        )
    finally:
        await webhooks.aclose()
    [request] = hooks.received("/webhooks/events")
    assert request.query == {"status": "answered", "headers": '{"a":1}'}
