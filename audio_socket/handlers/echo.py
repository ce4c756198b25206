"""The echo (``AUDIO_HANDLER=echo``, the default): each frame straight back, in order."""

from __future__ import annotations

from audio_socket import Call, CallHandler, with_settings
from audio_socket.handlers.delayed_echo import DelayedEchoHandler
from audio_socket.handlers.settings import EchoSettings


class EchoHandler(CallHandler):
    """Send each frame back the moment it arrives: one call per frame, no copy."""

    __slots__ = ("on_audio",)

    def __init__(self, call: Call) -> None:
        # The call's send is the handler's on_audio: nothing runs in between.
        self.on_audio = call.send_audio  # type: ignore[assignment]


@with_settings(EchoSettings)
def echo(call: Call) -> CallHandler:
    """The echo, or the delayed echo when ``ECHO_DELAY_MS`` is set."""
    delay_ms = call.settings.echo_delay_ms if call.settings is not None else 0
    return DelayedEchoHandler(call, delay_ms) if delay_ms else EchoHandler(call)
