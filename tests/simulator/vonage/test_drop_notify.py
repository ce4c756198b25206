"""``drop_notify``: Vonage never answers ``notify`` (one unconfirmed report, §9). A
handler that awaits ``played()`` then hangs up still hangs up, after played()'s
default timeout, instead of waiting for the call's end."""

from __future__ import annotations

import asyncio
import time

from audio_socket import Call as HandlerCall
from audio_socket import CallEnd, CallHandler
from audio_socket.protocol import CallStart
from tests.audio_socket.helpers import running
from tests.simulator.conftest import StartStack
from tests.simulator.rest_api.helpers import APP_ID, KEY, Api
from tests.simulator.vonage.conftest import answering, connect_to, placing

PROMPT_SECONDS = 0.5
PROMPT = b"\x10\x00" * round(16000 * PROMPT_SECONDS)  # quiet, not silence


class PlayThenHangUp(CallHandler):
    """Plays a prompt, awaits played(), then hangs up through REST."""

    def __init__(self, results: list[tuple[bool, float]]) -> None:
        self.results = results
        self.task: asyncio.Task[None] | None = None

    def on_start(self, call: HandlerCall, start: CallStart) -> None:
        self.task = asyncio.create_task(self._run(call))

    async def _run(self, call: HandlerCall) -> None:
        started = time.monotonic()
        call.play(PROMPT)
        played = await call.played()
        self.results.append((played, time.monotonic() - started))
        await call.hangup()

    async def on_end(self, end: CallEnd) -> None:
        if self.task is not None:
            await self.task


async def test_a_handler_awaiting_played_still_hangs_up(start_stack: StartStack, api: Api) -> None:
    """No notify answered: played() is False after the prompt plus its 2 s, then hangup."""
    stack = await start_stack(tls=False)
    results: list[tuple[bool, float]] = []
    settings = {"vonage_application_id": APP_ID, "vonage_private_key": KEY}
    async with running(
        lambda: PlayThenHangUp(results), **settings, vonage_api_host=api.host
    ) as server:
        uri = f"ws://127.0.0.1:{server.port}/socket"
        stack.hooks.answer = answering(
            lambda r: connect_to(uri, r.fields()["uuid"], stack.events_url, 1)
        )
        async with placing(stack, 10.0, api.link, drop_notify=True) as call:
            record = await call.run()
    [(played, waited)] = results
    assert played is False
    assert PROMPT_SECONDS + 1.5 < waited < 6.0, waited  # the default timeout, not the call
    assert record.ended_by == "application: hangup"
    assert record.audio is not None
    assert [answered for _, answered in record.audio.playout.notifies] == [None]
