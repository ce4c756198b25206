"""The NCCO actions that hold a call between sockets: wait, notify, input of DTMF.

The menu test is the whole path in process: a real audio server whose handler
transfers the call through the simulator's Voice REST API (the real SDK over
TLS) to an ``input``; the caller presses a key through :meth:`Call.press`; the
input event's answer connects the call back to the audio server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from vonage_voice.models.input_types import Dtmf  # type: ignore[import-untyped]
from vonage_voice.models.ncco import Input  # type: ignore[import-untyped]

from audio_socket import Call as HandlerCall
from audio_socket import CallEnd, CallHandler
from audio_socket.protocol import CallStart
from simulator.vonage.actions import DigitCollector
from simulator.vonage.ncco import Input as SimInput
from tests.audio_socket.helpers import eventually, running
from tests.simulator.conftest import StartStack
from tests.simulator.fakes import Reply, Request, connect_ncco
from tests.simulator.rest_api.helpers import APP_ID, KEY, Api
from tests.simulator.vonage.conftest import answering, connect_to, place, placing

REST = {"vonage_application_id": APP_ID, "vonage_private_key": KEY}


async def test_wait_holds_the_call_for_its_timeout(start_stack: StartStack) -> None:
    """[wait 0.5 s, connect]: the socket opens no sooner than 0.5 s after the answer."""
    stack = await start_stack(tls=False)
    stack.hooks.answer = answering(
        lambda _r: [
            {"action": "wait", "timeout": 0.5},
            *connect_ncco(stack.socket.uri, stack.events_url)[1:],
        ]
    )
    record = await place(stack, 0.5)
    [answer] = stack.hooks.received("/webhooks/answer")
    held = stack.socket.upgraded_at[0] - answer.received_at
    assert 0.5 <= held < 2.0, held
    assert record.actions == ["wait 0.5 s"]
    assert record.error is None


async def test_notify_posts_its_payload_signed_then_goes_on(start_stack: StartStack) -> None:
    """notify: the payload as the body, signed like every event; then the connect runs."""
    stack = await start_stack(tls=False)
    notify = {"action": "notify", "payload": {"step": "menu"}, "eventUrl": [stack.events_url]}
    stack.hooks.answer = answering(
        lambda _r: [notify, *connect_ncco(stack.socket.uri, stack.events_url)[1:]]
    )
    record = await place(stack, 0.5)
    [posted] = [
        r for r in stack.hooks.received("/webhooks/events") if r.fields() == {"step": "menu"}
    ]
    assert posted.claims is not None  # signed
    assert posted.received_at < stack.socket.upgraded_at[0]  # before the next action
    assert record.error is None
    assert len(record.legs) == 1


class MenuTransfer(CallHandler):
    """Echo; the first call's handler transfers it to a one-key menu."""

    def __init__(self, call: HandlerCall, starts: list[str], events_url: str) -> None:
        self.call, self.starts, self.events_url = call, starts, events_url
        self.task: asyncio.Task[None] | None = None

    def on_start(self, call: HandlerCall, start: CallStart) -> None:
        self.starts.append(str(start.metadata.get("attempt")))
        if len(self.starts) == 1:
            menu = Input(type=["dtmf"], dtmf=Dtmf(maxDigits=1), eventUrl=[self.events_url])
            self.task = asyncio.create_task(call.transfer([menu]))

    def on_audio(self, frame: bytes) -> None:
        self.call.send_audio(frame)

    async def on_end(self, end: CallEnd) -> None:
        if self.task is not None:
            await self.task


async def test_a_transfer_to_a_menu_comes_back_to_the_socket(
    start_stack: StartStack, api: Api
) -> None:
    """The handler transfers to input; a key; the input event's NCCO connects it back."""
    stack = await start_stack(tls=False)
    starts: list[str] = []
    inputs: list[dict[str, Any]] = []
    settings = REST | {"vonage_api_host": api.host}
    handler = lambda call: MenuTransfer(call, starts, stack.events_url)  # noqa: E731
    async with running(handler, **settings) as server:
        uri = f"ws://127.0.0.1:{server.port}/socket"
        stack.hooks.answer = answering(
            lambda r: connect_to(uri, r.fields()["uuid"], stack.events_url, 1)
        )

        async def events(request: Request) -> Reply:
            fields = request.fields()
            if "dtmf" not in fields:
                return 204, None
            inputs.append(fields)
            return 200, connect_to(uri, fields["uuid"], stack.events_url, 2)

        stack.hooks.events = events
        async with placing(stack, 6.0, api.link) as call:
            placed = asyncio.create_task(call.run())
            await eventually(lambda: call.keys is not None)  # the menu collects keys
            assert call.press("1")
            record = await placed
    assert starts == ["1", "2"]  # the handler got its call back
    [event] = inputs
    assert event["dtmf"] == {"digits": "1", "timed_out": False}
    assert event["uuid"] == record.uuid
    assert "speech" in event
    assert [leg.end for leg in record.legs] == ["ended by the application", "hung up"]
    assert record.actions == ["input '1'"]
    assert record.ended_by == "application: transfer"


@pytest.mark.parametrize(
    ("keys", "submit_on_hash", "digits", "timed_out"),
    [("12345", False, "1234", False), ("12#", True, "12", False), ("12", False, "12", True)],
)
async def test_the_collector_ends_as_vonage_says(
    keys: str, submit_on_hash: bool, digits: str, timed_out: bool
) -> None:
    """maxDigits (4) ends it, # under submitOnHash ends it, else timeOut after the last key."""
    collector = DigitCollector(SimInput(timeout=0.05, submit_on_hash=submit_on_hash))
    for key in keys:
        collector.press(key)
    await asyncio.wait_for(collector.done, 1.0)
    assert (collector.digits, collector.timed_out) == (digits, timed_out)


async def test_press_without_input_or_socket_is_not_heard(start_stack: StartStack) -> None:
    """Before any socket or input, a key press reaches no one; a bad key is refused."""
    stack = await start_stack(tls=False)
    async with placing(stack, 0.5) as call:
        assert not call.press("5")
        with pytest.raises(ValueError, match="0-9"):
            call.press("A")
