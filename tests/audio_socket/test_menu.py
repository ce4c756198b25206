"""The DTMF menu example: beeps, # hangs up after its goodbye, 0 transfers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from audio_socket.errors import CallControlError, CallControlUnavailable
from audio_socket.handlers.menu import TRANSFER_TEXT, MenuHandler
from audio_socket.handlers.sounds import beeps, error_tone, menu_prompt
from audio_socket.protocol import Dtmf
from tests.audio_socket.recording import END, START, RecordingCall


async def settle(handler: MenuHandler) -> None:
    """Let the menu's current step run to its end."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_menu_plays_and_digits_answer() -> None:
    """The prompt on start; 3 clears it and plays three beeps, then the menu again."""
    call, handler = RecordingCall(), MenuHandler()
    handler.on_start(call, START)
    await settle(handler)
    handler.on_event(Dtmf("3"))
    await settle(handler)
    plays = [c[1] for c in call.controls if isinstance(c, tuple) and c[0] == "play"]
    assert plays == [len(menu_prompt(16000)), len(beeps(16000, 3)), len(menu_prompt(16000))]
    assert call.controls.count("clear") == 2  # each step interrupts what plays
    handler.on_end(END)


async def test_hash_hangs_up_after_the_goodbye_is_heard() -> None:
    """# plays its tone, waits for played(), then hangs up through call control."""
    call, handler = RecordingCall(), MenuHandler()
    handler.on_start(call, START)
    handler.on_event(Dtmf("#"))
    await settle(handler)
    assert call.controls[-2:] == ["played", "hangup"]


async def test_zero_transfers_to_the_configured_number() -> None:
    """0 transfers with a talk and a connect to the phone number."""
    call, handler = RecordingCall(), MenuHandler("447700900001")
    handler.on_start(call, START)
    handler.on_event(Dtmf("0"))
    await settle(handler)
    [(_, ncco)] = [c for c in call.controls if isinstance(c, tuple) and c[0] == "transfer"]
    dumped = [action.model_dump(by_alias=True, exclude_none=True, mode="json") for action in ncco]
    assert dumped[0] == {"action": "talk", "text": TRANSFER_TEXT}
    assert dumped[1]["endpoint"] == [{"type": "phone", "number": "447700900001"}]
    assert dumped[1]["randomFromNumber"] is True


class RefusingCall(RecordingCall):
    """A call without call control, as without VONAGE_APPLICATION_ID."""

    async def hangup(self) -> None:
        raise CallControlUnavailable

    async def transfer(self, ncco: Sequence[Any]) -> None:
        raise CallControlError("transfer: Vonage answered 403")


@pytest.mark.parametrize("digit", ["#", "0"])
async def test_a_refused_choice_plays_the_error_tone_and_logs_why(
    digit: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller hears the low tone and the menu again; the log says what failed."""
    call, handler = RefusingCall(), MenuHandler("447700900001")
    handler.on_start(call, START)
    with caplog.at_level(logging.WARNING, "audio_socket"):
        handler.on_event(Dtmf(digit))
        await settle(handler)
    plays = [c[1] for c in call.controls if isinstance(c, tuple) and c[0] == "play"]
    assert plays[-2:] == [len(error_tone(16000)), len(menu_prompt(16000))]
    [record] = [r for r in caplog.records if r.getMessage() == "menu choice failed"]
    assert vars(record)["action"] == ("hangup" if digit == "#" else "transfer")
    assert "closes" not in str(call.controls)  # the socket stays open: no reconnect


async def test_zero_without_a_number_is_refused() -> None:
    """No MENU_TRANSFER_NUMBER: no transfer is attempted."""
    call, handler = RecordingCall(), MenuHandler()
    handler.on_start(call, START)
    handler.on_event(Dtmf("0"))
    await settle(handler)
    assert not [c for c in call.controls if isinstance(c, tuple) and c[0] == "transfer"]
