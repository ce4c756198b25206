"""A handler for the call-control tests: it echoes, and a DTMF digit asks it to act.

``1`` hang up, ``2`` close the socket instead, ``3`` transfer to a talk, ``4`` say
something and send DTMF, ``5`` say what it knows of the call (:func:`describe`),
``0`` nothing. Chosen with
``AUDIO_HANDLER=tests.e2e.control_handler:ControlHandler``. A failed request is
answered in-band with one frame of :data:`FAILED_MARKER`, so a test sees it while
the socket stays open.
"""

from __future__ import annotations

import logging

from audio_socket import Call, CallControlError, CallEvent, CallHandler, CallStart, Dtmf
from audio_socket.ncco import Talk

TRANSFER_TEXT = "You are being transferred to a person"
SAY_TEXT = "Hello from the handler"
SAID_DTMF = "12"
FAILED_MARKER = b"\x7f\x7f" * 320

log = logging.getLogger("tests.control_handler")


def describe(start: CallStart) -> str:
    """What the handler knows of the call from its first message, as one line."""
    return (
        f"{start.direction} from {start.caller} to {start.called}"
        f" conversation {start.conversation_uuid} attempt {start.attempt}"
        f" resumed {start.resumed} custom {dict(start.custom)}"
    )


class ControlHandler(CallHandler):
    """Echo; DTMF digits are call-control requests."""

    __slots__ = ("call",)

    def __init__(self, call: Call) -> None:
        self.call = call

    def on_audio(self, frame: bytes) -> None:
        self.call.send_audio(frame)

    def on_event(self, event: CallEvent) -> None:
        # A task of the call: a REST request must not hold up reading this call's audio.
        if isinstance(event, Dtmf):
            self.call.spawn(self._act(event.digit), name=f"control {event.digit}")

    async def _act(self, digit: str) -> None:
        call = self.call
        try:
            if digit == "1":
                await call.hangup()
            elif digit == "2":
                call.close_socket()
            elif digit == "3":
                await call.transfer([Talk(text=TRANSFER_TEXT)])
            elif digit == "4":
                await call.say(SAY_TEXT, "en-GB")
                await call.send_dtmf(SAID_DTMF)
            elif digit == "5":
                await call.say(describe(call.start))
        except CallControlError as exc:
            log.warning("call control failed", extra={"error": str(exc)})
            call.send_audio(FAILED_MARKER)
