"""A third handler, as a user would add one: a module and AUDIO_HANDLER=module:factory.

It exercises the rest of the handler interface: an async ``on_audio`` that
sends audio in uneven pieces (the call re-frames them), and DTMF that drives
the control messages, a close, and a failure.
"""

from __future__ import annotations

from types import SimpleNamespace

from audio_socket import CallControl, CallEnd, CallHandler
from audio_socket.protocol import CallEvent, CallStart, Dtmf

#: Every ended call, for tests to look at.
ENDED: list[CallEnd] = []


class ControlHandler(CallHandler):
    """Echo in odd-sized pieces; 1 clears, 2 notifies, 3 flushes, 9 hangs up, # raises."""

    def __init__(self) -> None:
        self.call: CallControl | None = None

    def on_start(self, call: CallControl, start: CallStart) -> None:
        self.call = call

    async def on_audio(self, frame: bytes) -> None:
        if self.call is not None:
            cut = len(frame) // 3
            for piece in (frame[:cut], frame[cut : cut + 7], frame[cut + 7 :]):
                self.call.send_audio(piece)
            await self.call.drain()

    def on_event(self, event: CallEvent) -> None:
        if self.call is None or not isinstance(event, Dtmf):
            return
        if event.digit == "1":
            self.call.clear()
        elif event.digit == "2":
            self.call.notify({"digit": event.digit})
        elif event.digit == "3":
            self.call.flush_audio()
        elif event.digit == "9":
            self.call.close_socket(reason="bye")
        elif event.digit == "#":
            raise RuntimeError("handler bug")

    def on_end(self, end: CallEnd) -> None:
        ENDED.append(end)


def make_handler() -> ControlHandler:
    """The factory AUDIO_HANDLER names."""
    return ControlHandler()


#: A namespace of factories: AUDIO_HANDLER may name ``FACTORIES.make_handler``.
FACTORIES = SimpleNamespace(make_handler=make_handler)
