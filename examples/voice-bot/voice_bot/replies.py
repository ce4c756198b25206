"""What the bot answers: one plain function, ``reply``, that you replace with your own.

``reply(transcript, conversation)`` gets what the caller said (``None`` when the call
has just started) and the conversation so far, and returns what to do: ``Say`` words,
``HangUp`` (after saying its words), ``Transfer`` the call to an NCCO (after saying its
words), or ``None`` to stay silent. It may be a coroutine function, for a model
behind an async client (README.md beside this package shows one).

The default is deterministic and takes every path: it greets, repeats what it
understood ("You said: ..."), hangs up on "goodbye" and transfers on "operator".
"""

from __future__ import annotations

import collections
import itertools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from audio_socket.ncco import Talk

__all__ = ["Action", "Conversation", "HangUp", "Reply", "Say", "Transfer", "reply"]

#: Turns the conversation remembers: enough context for a model, bounded per call.
HISTORY: Final = 20
OPERATOR_TEXT: Final = "This is the operator. The voice bot put you through. Goodbye."


@dataclass(frozen=True)
class Say:
    """Speak ``text``, then listen."""

    text: str


@dataclass(frozen=True)
class HangUp:
    """Speak ``text`` (if any), wait until it was heard, then end the call."""

    text: str = ""


@dataclass(frozen=True)
class Transfer:
    """Speak ``text`` (if any), then replace the call's NCCO with ``ncco``."""

    ncco: Sequence[Any]
    text: str = ""


Action = Say | HangUp | Transfer


@dataclass
class Conversation:
    """One call's conversation: what was said, both ways, the last ``HISTORY`` turns."""

    greeting: str
    #: True on a reconnected leg: the caller heard the greeting already.
    resumed: bool = False
    #: ``("caller" | "bot", text)``, oldest first.
    history: collections.deque[tuple[str, str]] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY)
    )

    @property
    def turns(self) -> int:
        """The caller's turns so far (within the history kept)."""
        return sum(who == "caller" for who, _ in self.history)


Reply = Callable[[str | None, Conversation], "Action | Awaitable[Action | None] | None"]


def reply(transcript: str | None, conversation: Conversation) -> Action | None:
    """Greet, repeat, hang up on "goodbye", transfer on "operator"."""
    if transcript is None:
        return Say("Welcome back." if conversation.resumed else conversation.greeting)
    words = _words(transcript)
    if not words:
        return None  # noise the recogniser made nothing of: stay quiet
    if "goodbye" in words or ("good", "bye") in itertools.pairwise(words):
        return HangUp("Goodbye, thanks for calling.")
    if "operator" in words:
        return Transfer([Talk(text=OPERATOR_TEXT)], "Putting you through to an operator.")
    return Say(f"You said: {transcript}")


def _words(text: str) -> list[str]:
    """Lower case, punctuation gone: "Good-bye!" is ``["good", "bye"]``."""
    return re.sub(r"[^a-z0-9']+", " ", text.lower()).split()
