"""A handler for the call-control tests: it echoes, and a DTMF digit asks it to act.

``1`` hang up, ``2`` close the socket instead, ``3`` transfer to a talk, ``4`` say
something and send DTMF, ``5`` say what it knows of the call (:func:`describe`),
``0`` nothing. Chosen with
``AUDIO_HANDLER=tests.e2e.control_handler:ControlHandler``. A failed request is
answered in-band with one frame of :data:`FAILED_MARKER`, so a test sees it while
the socket stays open.
"""

from __future__ import annotations

import asyncio
import logging

from vonage_voice.models.ncco import Talk  # type: ignore[import-untyped]

from audio_socket.errors import CallControlError
from audio_socket.handlers.base import CallControl, CallEnd, CallHandler
from audio_socket.protocol import CallEvent, CallStart, Dtmf

TRANSFER_TEXT = "You are being transferred to a person"
SAY_TEXT = "Hello from the handler"
SAID_DTMF = "12"
FAILED_MARKER = b"\x7f\x7f" * 320

log = logging.getLogger("tests.control_handler")


def describe(start: CallStart) -> str:
    """What on_start knows of the call, as one line."""
    return (
        f"{start.direction} from {start.caller} to {start.called}"
        f" conversation {start.conversation_uuid} attempt {start.attempt}"
        f" resumed {start.resumed} custom {dict(start.custom)}"
    )


class ControlHandler(CallHandler):
    """Echo; DTMF digits are call-control requests."""

    __slots__ = ("call", "start", "tasks")

    def on_start(self, call: CallControl, start: CallStart) -> None:
        self.call = call
        self.start = start
        self.tasks: set[asyncio.Task[None]] = set()

    def on_audio(self, frame: bytes) -> None:
        self.call.send_audio(frame)

    def on_event(self, event: CallEvent) -> None:
        # A task: a REST request must not hold up reading this call's audio.
        if isinstance(event, Dtmf):
            task = asyncio.create_task(self._act(event.digit))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _act(self, digit: str) -> None:
        try:
            if digit == "1":
                await self.call.hangup()
            elif digit == "2":
                self.call.close()
            elif digit == "3":
                await self.call.transfer([Talk(text=TRANSFER_TEXT)])
            elif digit == "4":
                await self.call.say(SAY_TEXT, "en-GB")
                await self.call.send_dtmf(SAID_DTMF)
            elif digit == "5":
                await self.call.say(describe(self.start))
        except CallControlError as exc:
            log.warning("call control failed", extra={"error": str(exc)})
            self.call.send_audio(FAILED_MARKER)

    def on_end(self, end: CallEnd) -> None:
        for task in self.tasks:
            task.cancel()
