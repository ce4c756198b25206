"""A DTMF menu: a prompt, digits that answer with beeps, ``#`` hangs up, ``0`` transfers.

``AUDIO_HANDLER=menu``, written in the coroutine form. The menu prompt plays on
start (three rising notes; a real menu plays recorded speech the same way) and
again after each choice:

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

Each key press clears what is playing first (barge-in): the step that was playing
sees its ``play()`` return False and stops, so a caller who knows the menu need
not wait for it.
"""

from __future__ import annotations

import logging
from typing import Final

from audio_socket import Call, CallControlError, Dtmf, with_settings
from audio_socket.handlers.settings import MenuSettings
from audio_socket.handlers.sounds import beeps, error_tone, menu_prompt, tone
from audio_socket.ncco import Connect, PhoneEndpoint, Talk

log = logging.getLogger("audio_socket")

TRANSFER_TEXT: Final = "Transferring your call."


@with_settings(MenuSettings)
async def menu(call: Call) -> None:
    """Play the menu, then answer each key press in turn."""
    call.spawn(_play_menu(call))
    async for event in call.events():
        if isinstance(event, Dtmf):
            call.clear()  # barge-in: the step that plays stops, its play() returns False
            call.spawn(_choose(call, event.digit), name=f"menu {event.digit}")


async def _choose(call: Call, digit: str) -> None:
    if digit == "#":
        await _hang_up(call)
    elif digit == "0":
        await _transfer(call)
    elif digit == "*" or (digit.isdigit() and await call.play(beeps(call.sample_rate, int(digit)))):
        await _play_menu(call)


async def _play_menu(call: Call) -> None:
    await call.play(menu_prompt(call.sample_rate))


async def _hang_up(call: Call) -> None:
    if await call.play(tone(call.sample_rate, 440.0, 0.3)):
        await call.played()  # the goodbye is heard before the line goes
    try:
        await call.hangup()
    except CallControlError as exc:
        await _refused(call, "hangup", exc)


async def _transfer(call: Call) -> None:
    number = call.settings.menu_transfer_number if call.settings is not None else None
    if number is None:
        await _refused(call, "transfer", CallControlError("MENU_TRANSFER_NUMBER is not set"))
        return
    ncco = [
        Talk(text=TRANSFER_TEXT),
        Connect(endpoint=[PhoneEndpoint(number=number)], randomFromNumber=True),
    ]
    try:
        await call.transfer(ncco)
    except CallControlError as exc:
        await _refused(call, "transfer", exc)


async def _refused(call: Call, what: str, exc: CallControlError) -> None:
    log.warning(
        "menu choice failed",
        extra={"call_uuid": call.call_uuid, "action": what, "error": str(exc)},
    )
    if await call.play(error_tone(call.sample_rate)):
        await _play_menu(call)
