"""Vonage phone calls on a WebSocket: the audio service, and the API of its call handlers.

Everything a handler needs is importable from here::

    from audio_socket import Call

    async def handler(call: Call) -> None:
        async for frame in call.audio():
            call.send_audio(frame)

    # AUDIO_HANDLER=mymodule:handler python -m audio_socket

docs/handlers.md is the guide; ``audio_socket.testing`` runs a handler in a test with
no socket; ``audio_socket.ncco`` has the NCCO actions ``transfer()`` takes. Importing
this package loads neither numpy nor the example handlers. The service itself is
``python -m audio_socket`` (``server``, ``service``, ``settings``).
"""

from __future__ import annotations

from audio_socket.callbacks import MaybeAwaitable
from audio_socket.errors import CallControlError, CallControlUnavailable, CloseCode, PromptError
from audio_socket.frames import SpeechDetector, frame_dbfs, frame_power, samples
from audio_socket.framing import AudioBytes, PromptSource, Reframer
from audio_socket.handler import (
    Call,
    CallControl,
    CallCoroutine,
    CallEnd,
    CallHandler,
    HandlerFactory,
    StartupHook,
    on_startup,
    with_settings,
)
from audio_socket.protocol import (
    FRAME_MS,
    CallEvent,
    CallStart,
    Cleared,
    Dtmf,
    Notified,
    UnknownEvent,
)
from audio_socket.registry import handler_metrics

__all__ = [
    "FRAME_MS",
    "AudioBytes",
    "Call",
    "CallControl",
    "CallControlError",
    "CallControlUnavailable",
    "CallCoroutine",
    "CallEnd",
    "CallEvent",
    "CallHandler",
    "CallStart",
    "Cleared",
    "CloseCode",
    "Dtmf",
    "HandlerFactory",
    "MaybeAwaitable",
    "Notified",
    "PromptError",
    "PromptSource",
    "Reframer",
    "SpeechDetector",
    "StartupHook",
    "UnknownEvent",
    "frame_dbfs",
    "frame_power",
    "handler_metrics",
    "on_startup",
    "samples",
    "with_settings",
]
