"""A DTMF menu: a prompt, digits that answer with beeps, ``#`` hangs up, ``0`` transfers.

``AUDIO_HANDLER=menu``. The menu prompt plays on start (three rising notes; a
real menu plays recorded speech the same way) and again after each choice:

- ``1``-``9`` answer with that many beeps (where a real menu would act);
- ``*`` plays the menu again;
- ``#`` says goodbye and hangs up through the Voice REST API
  (``docs/vonage-protocol.md`` §8), so Vonage ends the call and no reconnect
  follows;
- ``0`` transfers the call to ``MENU_TRANSFER_NUMBER`` (a ``connect`` NCCO to a
  phone, from a random number of the account).

``#`` and ``0`` need the application's credentials (``VONAGE_APPLICATION_ID``
and its key) and ``0`` the number too; without them, or when Vonage refuses,
the caller hears a low two-note tone, a warning is logged, and the menu goes
on: closing the socket instead would only make Vonage reconnect the call.

Each key press clears what is playing first (barge-in), so a caller who knows
the menu need not wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from vonage_voice.models.connect_endpoints import (  # type: ignore[import-untyped]
    PhoneEndpoint,
)
from vonage_voice.models.ncco import Connect, Talk  # type: ignore[import-untyped]

from audio_socket.errors import CallControlError
from audio_socket.handlers.base import CallControl, CallEnd, CallHandler
from audio_socket.handlers.sounds import beeps, error_tone, menu_prompt, tone
from audio_socket.protocol import CallEvent, CallStart, Dtmf

log = logging.getLogger("audio_socket")

TRANSFER_TEXT = "Transferring your call."


class MenuHandler(CallHandler):
    """Answer key presses; ``#`` hangs up and ``0`` transfers through call control."""

    __slots__ = ("_call", "_rate", "_task", "_transfer_number", "chosen")

    def __init__(self, transfer_number: str | None = None) -> None:
        self._transfer_number = transfer_number
        self._call: CallControl | None = None
        self._rate = 16000
        self._task: asyncio.Task[None] | None = None
        #: The digits pressed, in order.
        self.chosen: list[str] = []

    def on_start(self, call: CallControl, start: CallStart) -> None:
        """Play the menu."""
        self._call, self._rate = call, start.sample_rate
        self._run(self._menu)

    def on_event(self, event: CallEvent) -> None:
        """A key press interrupts whatever plays and answers it."""
        if not isinstance(event, Dtmf) or self._call is None:
            return
        self.chosen.append(event.digit)
        digit = event.digit
        if digit == "#":
            self._run(self._hang_up)
        elif digit == "0":
            self._run(self._transfer)
        elif digit == "*":
            self._run(self._menu)
        elif digit.isdigit():
            self._run(lambda: self._answer(int(digit)))

    def on_end(self, end: CallEnd) -> None:
        """The caller is gone: stop what plays."""
        if self._task is not None:
            self._task.cancel()

    def _run(self, step: Callable[[], Awaitable[None]]) -> None:
        call = self._call
        if call is None:
            return
        call.clear()  # barge-in: the prompt playing stops, its play() returns
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(_logged(step))

    async def _menu(self) -> None:
        if self._call is not None:
            await self._call.play(menu_prompt(self._rate))

    async def _answer(self, count: int) -> None:
        if self._call is not None and await self._call.play(beeps(self._rate, count)):
            await self._menu()

    async def _hang_up(self) -> None:
        call = self._call
        if call is None:
            return
        if await call.play(tone(self._rate, 440.0, 0.3)):
            await call.played()  # the goodbye is heard before the line goes
        try:
            await call.hangup()
        except CallControlError as exc:
            await self._refused("hangup", exc)

    async def _transfer(self) -> None:
        call = self._call
        if call is None:
            return
        if self._transfer_number is None:
            await self._refused("transfer", CallControlError("MENU_TRANSFER_NUMBER is not set"))
            return
        ncco = [
            Talk(text=TRANSFER_TEXT),
            Connect(endpoint=[PhoneEndpoint(number=self._transfer_number)], randomFromNumber=True),
        ]
        try:
            await call.transfer(ncco)
        except CallControlError as exc:
            await self._refused("transfer", exc)

    async def _refused(self, what: str, exc: CallControlError) -> None:
        call = self._call
        call_uuid = call.start.call_uuid if call is not None else None
        log.warning(
            "menu choice failed", extra={"call_uuid": call_uuid, "action": what, "error": str(exc)}
        )
        if call is not None and await call.play(error_tone(self._rate)):
            await self._menu()


async def _logged(step: Callable[[], Awaitable[None]]) -> None:
    # The step's coroutine is made here, so a step cancelled before it ran leaves none.
    try:
        await step()
    except asyncio.CancelledError:
        raise
    except Exception:  # one failed step must not go unnoticed, nor end the call
        log.exception("menu step failed")
