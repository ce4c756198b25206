"""The echo: every inbound frame goes straight back, byte-exact, in order."""

from __future__ import annotations

from collections.abc import Callable

from audio_socket.framing import AudioBytes
from audio_socket.handlers.base import CallControl, CallHandler
from audio_socket.protocol import CallStart


class EchoHandler(CallHandler):
    """Send each frame back the moment it arrives."""

    __slots__ = ("_send",)

    def __init__(self) -> None:
        self._send: Callable[[AudioBytes], None] | None = None

    def on_start(self, call: CallControl, start: CallStart) -> None:
        """Bind the call's send once, so each frame costs one call."""
        self._send = call.send_audio

    def on_audio(self, frame: bytes) -> None:
        """Echo ``frame``; the call re-frames odd sizes into whole frames."""
        if self._send is not None:
            self._send(frame)
