"""The events the simulator posts: their fields as Vonage writes them, and their order."""

from __future__ import annotations

import asyncio
import re
import ssl
import time

from simulator.vonage.events import (
    ORDER_PATIENCE,
    Direction,
    DisconnectedBy,
    Leg,
    Notifier,
    dashed_uuid,
    error_event,
    phone_leg_uuid,
    timestamp,
)
from simulator.vonage.webhook import Exchange, Timeouts, WebhookClient
from tests.simulator.fakes import FakeWebhooks, Reply, Request

DASHED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def caller_leg() -> Leg:
    """An inbound phone leg."""
    return Leg(phone_leg_uuid(), "CON-1", "447700900123", "447700900000", Direction.INBOUND)


def test_uuid_forms() -> None:
    """Inbound phone legs: 32 hex digits, no dashes; app and outbound legs: dashed."""
    assert re.fullmatch(r"[0-9a-f]{32}", phone_leg_uuid())
    assert DASHED.match(dashed_uuid())


def test_common_fields_and_empty_headers_on_the_phone_leg() -> None:
    """Every event has the common fields; a phone leg's headers are an empty object."""
    event = caller_leg().event("ringing")
    assert set(event) == {
        "from", "to", "uuid", "conversation_uuid", "status", "direction", "timestamp", "headers",
    }  # fmt: skip
    assert event["headers"] == {}
    assert event["direction"] == "inbound"
    assert TIME.match(event["timestamp"])


def test_answered_carries_null_start_rate_network() -> None:
    """answered: start_time, rate and network are present and null."""
    event = caller_leg().answered()
    assert (event["start_time"], event["rate"], event["network"]) == (None, None, None)


def test_completed_fields() -> None:
    """completed: times, duration, rate, price, network, disconnected_by and sip_code."""
    leg = caller_leg()
    leg.answered()
    event = leg.completed(DisconnectedBy.USER, "23410")
    assert TIME.match(event["start_time"])
    assert TIME.match(event["end_time"])
    assert event["start_time"] <= event["end_time"]
    assert event["duration"] == "0"
    assert event["rate"] == event["price"] == "0.00000000"
    assert event["network"] == "23410"
    assert event["disconnected_by"] == "user"
    assert event["sip_code"] == 200


def test_socket_leg_is_outbound_with_its_headers() -> None:
    """A socket leg: outbound, its own uuid, the endpoint's headers echoed back."""
    leg = Leg(dashed_uuid(), "CON-1", "447700900000", "wss://h/socket", Direction.OUTBOUND,
              headers={"call_uuid": "c", "attempt": 1})  # fmt: skip
    event = leg.event("started")
    assert event["direction"] == "outbound"
    assert event["headers"] == {"call_uuid": "c", "attempt": 1}
    assert DASHED.match(event["uuid"])


def test_error_event() -> None:
    """An NCCO Vonage cannot run: a reason, the conversation, a time; no leg."""
    event = error_event("bad NCCO", "CON-1")
    assert set(event) == {"reason", "conversation_uuid", "timestamp"}
    assert TIME.match(timestamp())


async def test_notifications_arrive_in_order_and_a_hung_one_holds_the_rest_briefly() -> None:
    """In order while answered promptly; one that hangs delays the next by ORDER_PATIENCE."""
    hooks = await FakeWebhooks().start()
    webhooks = WebhookClient(ssl.create_default_context(), None, Timeouts(event=3.0))

    async def events(request: Request) -> Reply:
        status = request.fields()["status"]
        if status == "hung":
            return await hooks.hang(request)
        await asyncio.sleep(0.05)
        return 204, None

    hooks.events = events
    log: list[Exchange] = []
    notifier = Notifier(webhooks, log)
    url = f"{hooks.base_url}/webhooks/events"
    started = time.monotonic()
    try:
        for status in ("one", "two", "three", "hung", "after"):
            notifier.post(url, {"status": status})
        await asyncio.wait_for(notifier.flush(), 20)
    finally:
        await webhooks.aclose()
        await hooks.close()
    took = time.monotonic() - started
    received = hooks.received("/webhooks/events")
    assert [r.fields()["status"] for r in received] == ["one", "two", "three", "hung", "after"]
    hung, after = received[3].received_at, received[4].received_at
    assert ORDER_PATIENCE * 0.9 <= after - hung < 3.0  # not held for the whole timeout
    assert 3.0 <= took < 3.0 + 5.0  # the hung one's timeout, once
    [failure] = notifier.failures
    assert failure.startswith("event 'hung' to http")
    assert failure.endswith("failed: timeout")
