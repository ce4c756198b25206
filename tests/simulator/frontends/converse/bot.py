"""A deterministic voice bot for converse's tests: it answers D ms after the caller stops.

It hears the caller with ``SpeechDetector`` at converse's own audible level
(-50 dBFS), so that both sides agree on when the caller's speech ended; it then
plays one known prompt ``delay`` seconds later, ``clear()``s it when the caller
speaks over it, on DTMF ``#`` hangs up through the REST API (or, for the
accident case, only closes its socket), and on ``0`` transfers the call to a talk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from audio_socket import Call, Dtmf, SpeechDetector
from audio_socket.ncco import Talk

LEVEL_DBFS = -50.0


@dataclass
class Bot:
    """The bot's settings and what it did (for the tests' own checks)."""

    prompt: bytes
    delay: float
    hash_closes_socket: bool = False
    clears: int = 0
    replies: list[float] = field(default_factory=list)

    async def handle(self, call: Call) -> None:
        """The handler: listen, answer after ``delay``, stop when spoken over."""
        loop = asyncio.get_running_loop()
        detector = SpeechDetector(threshold_dbfs=LEVEL_DBFS, frames=2)
        call.spawn(self._keys(call))
        timer: asyncio.TimerHandle | None = None
        speaking = playing = False

        def reply() -> None:
            nonlocal playing
            playing = True
            self.replies.append(loop.time())
            call.spawn(played(call.play(self.prompt)))

        async def played(done: Awaitable[bool]) -> None:
            nonlocal playing
            await done
            playing = False

        async for frame in call.audio():
            if detector.update(frame):
                if timer is not None:
                    timer.cancel()
                    timer = None
                if playing:
                    playing = False
                    self.clears += 1
                    call.clear()
                speaking = True
            elif speaking and detector.quiet_frames == 1:
                speaking = False  # the caller just stopped: answer after the delay
                timer = loop.call_later(self.delay, reply)

    async def _keys(self, call: Call) -> None:
        async for event in call.events():
            if isinstance(event, Dtmf) and event.digit == "#":
                if self.hash_closes_socket:
                    call.close_socket()
                else:
                    await call.hangup()
            elif isinstance(event, Dtmf) and event.digit == "0":
                await call.transfer([Talk(text="Transferring you now.")])
