"""The DTMF menu example: beeps, # hangs up after its goodbye, 0 transfers."""

from __future__ import annotations

import logging

import pytest

from audio_socket.errors import CallControlError, CallControlUnavailable
from audio_socket.handlers.menu import TRANSFER_TEXT, menu
from audio_socket.handlers.settings import MenuSettings
from audio_socket.handlers.sounds import beeps, error_tone, menu_prompt, tone
from audio_socket.testing import CallTester, Request

NUMBER = MenuSettings(menu_transfer_number="447700900001")
MENU = menu_prompt(16000)


def heard_since(tester: CallTester, frames: int) -> bytes:
    """What the caller heard after the first ``frames`` frames."""
    return b"".join(tester.sent_frames[frames:])


async def test_the_menu_plays_and_digits_answer() -> None:
    """The prompt on start; 3 clears what plays and plays three beeps, then the menu again."""
    async with CallTester(menu) as tester:
        await tester.advance(2.0)
        assert tester.sent_pcm == MENU
        before = len(tester.sent_frames)
        await tester.send_dtmf("3")
        await tester.advance(3.0)
        assert heard_since(tester, before) == beeps(16000, 3) + MENU
        assert tester.controls == [("clear",)]  # the key press interrupts what plays


async def test_a_key_cuts_the_menu_short() -> None:
    """A caller who knows the menu need not wait: * mid-prompt starts it again at once."""
    async with CallTester(menu) as tester:
        await tester.advance(0.5)
        before = len(tester.sent_frames)
        await tester.send_dtmf("*")
        await tester.advance(1.4)
        assert heard_since(tester, before) == MENU


async def test_hash_hangs_up_after_the_goodbye_is_heard() -> None:
    """# plays its tone, waits for played(), then hangs up through call control."""
    async with CallTester(menu) as tester:
        before = len(tester.sent_frames)
        await tester.send_dtmf("#")
        await tester.advance(1.0)
    assert tester.requests == [Request("hangup")]
    assert heard_since(tester, before) == tone(16000, 440.0, 0.3)  # all of it, then the end
    assert tester.ended is not None
    assert tester.ended.code == 1000


async def test_zero_transfers_to_the_configured_number() -> None:
    """0 transfers with a talk and a connect to the phone number."""
    async with CallTester(menu, settings=NUMBER) as tester:
        await tester.send_dtmf("0")
    [request] = tester.requests
    assert request.action == "transfer"
    [ncco] = request.args
    assert ncco[0] == {"action": "talk", "text": TRANSFER_TEXT}
    assert ncco[1]["endpoint"] == [{"type": "phone", "number": "447700900001"}]
    assert ncco[1]["randomFromNumber"] is True


@pytest.mark.parametrize(
    ("digit", "action", "error"),
    [
        ("#", "hangup", CallControlUnavailable()),
        ("0", "transfer", CallControlError("transfer: Vonage answered 403", status=403)),
    ],
)
async def test_a_refused_choice_plays_the_error_tone_and_logs_why(
    digit: str, action: str, error: CallControlError, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller hears the low tone and the menu again; the log says what failed."""
    async with CallTester(menu, settings=NUMBER) as tester:
        tester.fail_request(action, error)
        await tester.advance(2.0)
        before = len(tester.sent_frames)
        with caplog.at_level(logging.WARNING, "audio_socket"):
            await tester.send_dtmf(digit)
            await tester.advance(4.0)
        assert heard_since(tester, before).endswith(error_tone(16000) + MENU)
        assert tester.ended is None  # the socket stays open: no reconnect
    [record] = [r for r in caplog.records if r.getMessage() == "menu choice failed"]
    assert vars(record)["action"] == action
    assert [r.action for r in tester.requests] == [action]
    assert ("close_socket", 1000) not in tester.controls


async def test_zero_without_a_number_is_refused() -> None:
    """No MENU_TRANSFER_NUMBER: no transfer is attempted; the error tone plays."""
    async with CallTester(menu) as tester:
        await tester.send_dtmf("0")
        await tester.advance(1.0)
    assert tester.requests == []
    assert error_tone(16000) in tester.sent_pcm
