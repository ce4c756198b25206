"""The simulator does what Vonage does: one test per modelled behaviour.

Talk takes time unless bargeIn; events are notifications that never hold the call;
events expecting an NCCO are retried, then sent to the fallback URL; the socket
leg has its own events; failed/unanswered only under eventType synchronous; the
answer request's fields and uuid forms; an NCCO Vonage cannot parse is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.simulator.conftest import APOLOGY, Run, StartStack
from tests.simulator.fakes import FakeWebhooks, Reply, Request, connect_ncco

RunCall = Callable[[list[str]], Awaitable[Run]]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
DASHED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
async def fallback() -> AsyncIterator[FakeWebhooks]:
    """The application's fallback_answer_url, on its own server."""
    fake = await FakeWebhooks().start()
    yield fake
    await fake.close()


def answer_with(ncco: Callable[[], list[dict[str, Any]]]) -> Callable[[Request], Awaitable[Reply]]:
    """An answer route that returns ``ncco()`` (built once the stack's URLs are known)."""

    async def answer(_request: Request) -> Reply:
        return 200, ncco()

    return answer


def answer_time(hooks: FakeWebhooks) -> float:
    """When the answer request arrived."""
    return hooks.received("/webhooks/answer")[0].received_at


async def test_talk_holds_the_connect_for_its_duration(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """Five words at 150 a minute: the upgrade comes 2.2 s after the answer, not at once."""
    holder: list[Any] = []
    stack = await start_stack(
        tls=False,
        answer=answer_with(
            lambda: [{"action": "talk", "text": "one two three four five"}, holder[0]()[1]]
        ),
    )
    holder.append(lambda: connect_ncco(stack.socket.uri, stack.events_url))
    run = await run_call(stack.argv("--json", seconds=0.5, talk=True))
    assert run.status == 0, run.err
    assert run.report()["talk_s"] == pytest.approx(2.2)
    waited = stack.socket.upgraded_at[0] - answer_time(stack.hooks)
    assert 2.1 <= waited < 2.2 + 3.0


async def test_barge_in_does_not_hold_the_connect(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """bargeIn: a 12 s talk plays on while the connect starts at once."""
    holder: list[Any] = []
    words = " ".join(["word"] * 30)
    stack = await start_stack(
        tls=False,
        answer=answer_with(
            lambda: [{"action": "talk", "text": words, "bargeIn": True}, holder[0]()[1]]
        ),
    )
    holder.append(lambda: connect_ncco(stack.socket.uri, stack.events_url))
    run = await run_call(stack.argv("--json", seconds=0.5, talk=True))
    assert run.status == 0, run.err
    assert run.report()["talk_s"] == 0
    assert stack.socket.upgraded_at[0] - answer_time(stack.hooks) < 2.0


async def test_slow_events_do_not_hold_the_call(start_stack: StartStack, run_call: RunCall) -> None:
    """Each notification answered after 1 s: the socket still opens at once; all arrive."""

    async def slow(request: Request) -> Reply:
        if request.fields().get("direction") == "inbound":
            await asyncio.sleep(1.0)
        return 204, None

    stack = await start_stack(tls=False, events=slow)
    run = await run_call(stack.argv("--json", seconds=0.5))
    assert run.status == 0, run.err
    assert run.report()["talk_s"] == 0  # --instant-talk
    assert stack.socket.upgraded_at[0] - answer_time(stack.hooks) < 0.9
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]
    assert run.report()["events_failed"] == []


async def test_disconnected_tried_twice_then_the_fallback_reconnects(
    start_stack: StartStack, run_call: RunCall, fallback: FakeWebhooks
) -> None:
    """disconnected answered 500 twice: the fallback URL's NCCO reconnects the call."""
    from tests.simulator.fakes import FakeSocket  # noqa: PLC0415

    async def events(request: Request) -> Reply:
        return (500, None) if request.fields()["status"] == "disconnected" else (204, None)

    stack = await start_stack(socket=FakeSocket(close_after=10), events=events)

    async def reconnect(request: Request) -> Reply:
        assert request.fields()["status"] == "disconnected"
        return 200, connect_ncco(stack.socket.uri, stack.events_url, attempt=2)[1:]

    fallback.answer = reconnect
    url = f"{fallback.base_url}/webhooks/answer"
    # Three attempts a second apart before the reconnect: the call outlasts them.
    run = await run_call(stack.argv("--json", "--fallback-url", url, seconds=4.0))
    assert run.status == 0, run.err
    report = run.report()
    assert len(report["reconnects"]) == 1
    sent = [r for r in stack.hooks.event_fields() if r["status"] == "disconnected"]
    assert len(sent) == 2
    assert len(fallback.received("/webhooks/answer")) == 1
    assert [m["attempt"] for m in stack.socket.first_messages] == [1, 2]


async def test_disconnected_failing_everywhere_goes_on_with_the_call_flow(
    start_stack: StartStack, run_call: RunCall, fallback: FakeWebhooks
) -> None:
    """Twice at the eventUrl, twice at the fallback, then the next action: here none."""
    from tests.simulator.fakes import FakeSocket  # noqa: PLC0415

    async def events(request: Request) -> Reply:
        return (503, None) if request.fields()["status"] == "disconnected" else (204, None)

    async def broken(_request: Request) -> Reply:
        return 500, None

    fallback.answer = broken
    stack = await start_stack(tls=False, socket=FakeSocket(close_after=10), events=events)
    url = f"{fallback.base_url}/webhooks/answer"
    run = await run_call(stack.argv("--json", "--fallback-url", url, seconds=1.0))
    assert run.status == 1
    report = run.report()
    assert "the call ended after" in report["error"]
    assert len([r for r in stack.hooks.event_fields() if r["status"] == "disconnected"]) == 2
    assert len(fallback.received("/webhooks/answer")) == 2
    [line] = report["events_failed"]
    assert line.startswith("event 'disconnected' (socket leg 1) failed")
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]


async def test_no_failed_event_without_synchronous(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """Without eventType synchronous a refused upgrade posts no failed: the flow goes on."""
    from tests.simulator.fakes import FakeSocket  # noqa: PLC0415

    holder: list[Any] = []

    def ncco() -> list[dict[str, Any]]:
        connect = holder[0]()[1]
        del connect["eventType"]
        return [connect]

    stack = await start_stack(socket=FakeSocket(refuse=401), answer=answer_with(ncco))
    holder.append(lambda: connect_ncco(stack.socket.uri, stack.events_url))
    run = await run_call(stack.argv("--json"))
    assert run.status == 1
    assert "upgrade refused: HTTP 401" in run.report()["error"]
    assert stack.hooks.leg_statuses() == [["started", "ringing"]]


async def test_unanswered_when_the_upgrade_never_completes(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """A socket that accepts TCP and never answers the upgrade: unanswered after `timeout`."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    holder: list[Any] = []

    def ncco() -> list[dict[str, Any]]:
        connect = connect_ncco(f"ws://127.0.0.1:{port}/socket", holder[0])[1]
        connect["timeout"] = 1
        return [connect]

    async def events(request: Request) -> Reply:
        if request.fields()["status"] == "unanswered":
            return 200, [{"action": "talk", "text": APOLOGY}]
        return 204, None

    try:
        stack = await start_stack(tls=False, answer=answer_with(ncco), events=events)
        holder.append(stack.events_url)
        run = await run_call(stack.argv("--json"))
    finally:
        silent.close()
        for writer in held:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(silent.wait_closed(), 5)
    assert run.status == 1
    [unanswered] = [e for e in stack.hooks.event_fields() if e["status"] == "unanswered"]
    assert unanswered["detail"] == "unavailable"
    assert unanswered["direction"] == "outbound"
    assert run.report()["talks"] == [APOLOGY]


async def test_answer_request_of_a_phone_call(start_stack: StartStack, run_call: RunCall) -> None:
    """A phone call: 32-hex uuid, endpoint_type phone, region_url; as a GET's query too."""
    stack = await start_stack(tls=False)
    url = "https://api-us-3.vonage.com"
    run = await run_call(stack.argv("--json", "--get", "--region-url", url, seconds=0.2))
    assert run.status == 0, run.err
    query = stack.hooks.received("/webhooks/answer")[0].query
    assert HEX32.match(query["uuid"])
    assert query["endpoint_type"] == "phone"
    assert query["region_url"] == url
    assert query["conversation_uuid"].startswith("CON-")
    assert DASHED.match(query["conversation_uuid"].removeprefix("CON-"))
    [leg_uuid] = {e["uuid"] for e in stack.hooks.event_fields() if e["direction"] == "outbound"}
    assert DASHED.match(leg_uuid)


async def test_answer_request_of_an_app_call(start_stack: StartStack, run_call: RunCall) -> None:
    """An app call: from_user and custom_data instead of from, a dashed uuid."""
    stack = await start_stack(tls=False)
    extra = ["--from-user", "alice", "--custom-data", '{"ticket": 42}']
    run = await run_call(stack.argv("--json", *extra, seconds=0.2))
    assert run.status == 0, run.err
    fields = stack.hooks.received("/webhooks/answer")[0].fields()
    assert "from" not in fields
    assert fields["from_user"] == "alice"
    assert fields["custom_data"] == {"ticket": 42}
    assert fields["endpoint_type"] == "app"
    assert DASHED.match(fields["uuid"])


async def test_unparsable_ncco_posts_an_error_event(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """An NCCO Vonage cannot run: not retried, an error event posted, the call over."""

    async def answer(_request: Request) -> Reply:
        return 200, [{"action": "talk"}]

    stack = await start_stack(tls=False, answer=answer)
    run = await run_call(stack.argv())
    assert run.status == 1
    assert len(stack.hooks.received("/webhooks/answer")) == 1
    [error] = stack.hooks.event_fields()
    assert "'text' must be a non-empty string" in error["reason"]
    assert error["conversation_uuid"].startswith("CON-")
    assert "status" not in error


async def test_answered_and_completed_fields_on_the_wire(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """answered: null start_time, rate, network; completed: how and by whom it ended."""
    stack = await start_stack(tls=False)
    run = await run_call(stack.argv(seconds=0.3))
    assert run.status == 0, run.err
    events = stack.hooks.event_fields()
    caller = {e["status"]: e for e in events if e["direction"] == "inbound"}
    socket = {e["status"]: e for e in events if e["direction"] == "outbound"}
    answered = caller["answered"]
    assert (answered["start_time"], answered["rate"], answered["network"]) == (None, None, None)
    assert answered["headers"] == {}
    completed = caller["completed"]
    assert completed["disconnected_by"] == "user"
    assert completed["sip_code"] == 200
    assert completed["network"] != "simulator"
    assert {"start_time", "end_time", "duration", "rate", "price"} <= set(completed)
    assert socket["completed"]["disconnected_by"] == "platform"
    assert socket["completed"]["headers"] == {"call_uuid": "c-1", "attempt": 1}
    assert json.dumps(events)  # every field is plain JSON


async def test_calls_set_up_while_others_listen_to_their_talk(start_stack: StartStack) -> None:
    """One set-up slot, three calls: a talk frees the slot, so the upgrades come together."""
    from simulator.vonage.call import Call  # noqa: PLC0415
    from simulator.vonage.context import CallContext, SignalCache  # noqa: PLC0415
    from simulator.vonage.pacer import Pacer  # noqa: PLC0415
    from simulator.vonage.records import CallOptions  # noqa: PLC0415
    from simulator.vonage.webhook import WebhookClient  # noqa: PLC0415

    holder: list[Any] = []
    stack = await start_stack(
        tls=False,
        answer=answer_with(
            lambda: [{"action": "talk", "text": "one two three four five"}, holder[0]()[1]]
        ),
    )
    holder.append(lambda: connect_ncco(stack.socket.uri, stack.events_url))
    webhooks = WebhookClient(ssl.create_default_context(), None)
    pacer = Pacer()
    context = CallContext(webhooks, pacer, SignalCache(0.5), None, setup_slots=asyncio.Semaphore(1))
    try:
        calls = [Call(CallOptions(stack.hooks.base_url, 0.5, variant=i), context) for i in range(3)]
        records = await asyncio.wait_for(asyncio.gather(*(c.run() for c in calls)), 60)
    finally:
        await pacer.close()
        await webhooks.aclose()
    assert [r.error for r in records] == [None, None, None]
    upgrades = stack.socket.upgraded_at
    assert len(upgrades) == 3
    # Held through each talk, the slot would space the upgrades 2.2 s apart or more.
    assert max(upgrades) - min(upgrades) < 1.5


@pytest.mark.parametrize(
    ("extra", "form"),
    [({}, HEX32), ({"from_user": "alice"}, DASHED), ({"outbound": True}, DASHED)],
    ids=["inbound-phone", "app", "outbound"],
)
async def test_the_call_leg_uuid_form(extra: dict[str, Any], form: re.Pattern[str]) -> None:
    """32 hex digits for an inbound phone leg; dashed for an app or an outbound call."""
    from simulator.vonage.call import Call  # noqa: PLC0415
    from simulator.vonage.context import CallContext, SignalCache  # noqa: PLC0415
    from simulator.vonage.pacer import Pacer  # noqa: PLC0415
    from simulator.vonage.records import CallOptions  # noqa: PLC0415
    from simulator.vonage.webhook import WebhookClient  # noqa: PLC0415

    webhooks = WebhookClient(ssl.create_default_context(), None)
    pacer = Pacer()
    try:
        context = CallContext(webhooks, pacer, SignalCache(0.1), None)
        call = Call(CallOptions("https://localhost:1", 0.1, **extra), context)
    finally:
        await pacer.close()
        await webhooks.aclose()
    assert form.match(call.record.uuid)
