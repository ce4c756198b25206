"""voice_bot.replies: the default reply takes every path, and the words are matched loosely."""

from __future__ import annotations

import pytest
from voice_bot.replies import Conversation, HangUp, Say, Transfer, reply


def conversation(*, resumed: bool = False) -> Conversation:
    return Conversation("Hello there.", resumed=resumed)


def test_the_call_starts_with_the_greeting() -> None:
    """No transcript yet: the greeting, or a shorter line on a reconnected leg."""
    assert reply(None, conversation()) == Say("Hello there.")
    assert reply(None, conversation(resumed=True)) == Say("Welcome back.")


def test_it_repeats_what_it_understood() -> None:
    """Anything else is said back after "You said:"."""
    assert reply("Book a table.", conversation()) == Say("You said: Book a table.")


@pytest.mark.parametrize("said", ["Goodbye.", "OK, good bye!", "goodbye then", "Good-bye"])
def test_goodbye_hangs_up(said: str) -> None:
    """However Whisper writes it."""
    action = reply(said, conversation())
    assert isinstance(action, HangUp)
    assert action.text


def test_operator_transfers_to_a_talk() -> None:
    """The transfer's NCCO is a talk action, which the local stack can play."""
    action = reply("Get me an operator, please.", conversation())
    assert isinstance(action, Transfer)
    assert action.ncco[0].model_dump(exclude_none=True)["action"] == "talk"


def test_nothing_heard_is_no_answer() -> None:
    """Noise that the recogniser made nothing of gets silence, not "You said"."""
    assert reply("", conversation()) is None
    assert reply(" ... ", conversation()) is None


def test_the_history_is_bounded() -> None:
    """A long call keeps the last turns only."""
    talk = conversation()
    talk.history.extend(("caller", str(n)) for n in range(100))
    assert talk.turns == len(talk.history) < 100
