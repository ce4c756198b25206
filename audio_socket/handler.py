"""The handler's side of a call: the ``Call`` a handler is given, and the two handler forms.

The server owns the socket and the protocol; a handler owns what the call does.
``AUDIO_HANDLER=module:attribute`` names either form (docs/handlers.md):

- **a coroutine per call**, ``async def handler(call: Call) -> None``: it reads
  ``call.audio()`` and ``call.events()`` and acts on the call. Returning ends the
  handler, not the call; an exception closes the call with 1011.
- **a callback class** (or any factory of one), called once per call with the
  ``Call`` (or with nothing, if it takes no argument). The server then calls::

      on_start(call, start)   once, after the first message was accepted
      on_audio(frame)         for each inbound binary message (a 20 ms frame)
      on_event(event)         for each inbound text message (DTMF, cleared, ...)
      on_end(end)             once, after the socket closed, however it closed

  Each may be a plain function or a coroutine function; the server awaits what it
  returns when that is not ``None`` and reads no further message until then. Plain
  functions are the cheapest path, 50 frames a second: the echo's.

Background work is ``call.spawn(coro)``: a task the call owns, cancelled when the
call ends (before ``on_end``), whose exception ends the call as a handler's does.

A handler ends its call with ``await call.hangup()``. ``call.close_socket()`` closes
only the socket: Vonage takes that for an accident, posts ``disconnected``, and the
call is reconnected (docs/vonage-protocol.md §4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from audio_socket.callbacks import MaybeAwaitable
from audio_socket.errors import CloseCode, Outcome
from audio_socket.framing import AudioBytes, PromptSource
from audio_socket.protocol import CallEvent, CallStart

if TYPE_CHECKING:  # the interface itself runs nothing: it loads no asyncio
    import asyncio

__all__ = [
    "Call",
    "CallControl",
    "CallCoroutine",
    "CallEnd",
    "CallHandler",
    "HandlerFactory",
    "StartupHook",
    "on_startup",
    "with_settings",
]

Target = TypeVar("Target")


@dataclass(frozen=True, slots=True)
class CallEnd:
    """How the call ended: the close code and reason, and the metric outcome."""

    code: int
    reason: str
    outcome: Outcome


class Call(Protocol):
    """One call, as a handler sees it: present from the handler's first line to the end."""

    @property
    def start(self) -> CallStart:
        """The call's first message: rate, frame size, the NCCO endpoint's headers."""
        ...

    @property
    def call_uuid(self) -> str | None:
        """Vonage's uuid of the call (the ``call_uuid`` endpoint header)."""
        ...

    @property
    def sample_rate(self) -> int:
        """Samples a second: 8000, 16000 or 24000."""
        ...

    @property
    def frame_bytes(self) -> int:
        """Bytes in one 20 ms frame at the call's rate (320, 640 or 960)."""
        ...

    @property
    def settings(self) -> Any:
        """The handler's own settings (its ``settings_class``, read once at start-up)."""
        ...

    # Receiving, for the coroutine form

    def audio(self) -> AsyncIterator[bytes]:
        """The caller's frames as they arrive; the iteration ends with the call.

        At most about a second of frames (50) waits unread; newer ones are dropped,
        counted, and logged once per call.
        """
        ...

    def events(self) -> AsyncIterator[CallEvent]:
        """DTMF and other text events as they arrive; the iteration ends with the call."""
        ...

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the call owns, and return it (to cancel it early).

        It is cancelled when the call ends, before ``on_end``; an exception it raises
        is logged with the call's uuid and ends the call with 1011. Spawned after the
        call ended, it is cancelled at once.
        """
        ...

    # Sending audio

    def send_audio(self, audio: AudioBytes) -> None:
        """Send audio now, as whole 20 ms frames (§3): the raw path, unpaced.

        For audio produced at real time (an echo). A prompt sent this way fills
        Vonage's buffer and ours at once; use ``play()``.
        """
        ...

    def flush_audio(self) -> None:
        """Send the carried partial frame, completed with silence (end of utterance)."""
        ...

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        """Play a prompt paced at real time; True once all of it was sent.

        ``audio`` is 16-bit mono little-endian PCM at ``rate`` (default: the call's;
        any other is resampled), or a WAV file's path. False when ``clear()`` or the
        end of the call came first. Raises ``PromptError`` for audio that is not
        16-bit PCM or a WAV file that cannot be read.
        """
        ...

    def played(self, timeout: float | None = None) -> Awaitable[bool]:
        """True once the caller has heard everything sent before this call.

        Answered through Vonage's ``notify`` (§3). False when ``clear()`` or the end
        of the call came first, or when no answer came within ``timeout`` seconds
        (default: the audio still to play, plus 2 s).
        """
        ...

    def clear(self) -> None:
        """Barge-in: Vonage drops what it has buffered (§3); pending plays return False."""
        ...

    def notify(self, payload: Mapping[str, Any]) -> None:
        """Ask Vonage for a ``websocket:notify`` with ``payload`` once the audio sent
        so far has played; it arrives as a ``Notified`` event."""
        ...

    async def drain(self) -> None:
        """Wait until the outbound buffer is below its high-water mark."""
        ...

    # Call control through Vonage's Voice REST API (docs/vonage-protocol.md §8). Each
    # raises CallControlError when the request fails (CallControlUnavailable without
    # the application's credentials) and leaves the socket open.

    async def hangup(self) -> None:
        """End the phone call. Vonage closes the socket; no reconnect follows."""
        ...

    async def transfer(self, ncco: Sequence[Any]) -> None:
        """Replace the call's NCCO with ``ncco`` (``vonage_voice.models.ncco`` actions
        or plain dicts); this socket leg then ends."""
        ...

    async def say(self, text: str, language: str | None = None) -> None:
        """Text-to-speech into the call; returns once Vonage has queued it."""
        ...

    async def send_dtmf(self, digits: str) -> None:
        """Play DTMF tones into the call: 0-9, ``*``, ``#``, ``p`` (a 500 ms pause)."""
        ...

    def close_socket(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close this socket, not the call: Vonage posts ``disconnected`` and the
        webhooks reconnect the call, to this or another replica (§4)."""
        ...


#: The name the handler interface had before ``Call``; kept while handlers move.
CallControl = Call


class CallHandler:
    """Base class of the callback form: every method does nothing unless overridden."""

    __slots__ = ()

    def on_start(self, call: Call, start: CallStart) -> MaybeAwaitable:
        """The call is open; ``call`` stays valid until ``on_end``."""
        return None

    def on_audio(self, frame: bytes) -> MaybeAwaitable:
        """One inbound binary message: normally one 20 ms frame."""
        return None

    def on_event(self, event: CallEvent) -> MaybeAwaitable:
        """One inbound text message, classified. It is never echoed."""
        return None

    def on_end(self, end: CallEnd) -> MaybeAwaitable:
        """The socket is closed; release what the call held."""
        return None


#: What the server calls once per call for the callback form.
HandlerFactory = Callable[[Call], CallHandler]
#: The coroutine form.
CallCoroutine = Callable[[Call], Coroutine[Any, Any, None]]
#: Awaited once per process before the service listens, with the handler's settings.
StartupHook = Callable[[Any], Awaitable[None]]


def with_settings(settings_class: type[Any]) -> Callable[[Target], Target]:
    """Give a handler its own settings: a pydantic-settings class, read once at start-up.

    ``@with_settings(BotSettings)`` on a coroutine function or a handler class sets its
    ``settings_class``; a class may as well declare ``settings_class = BotSettings``.
    Each call then reads the instance as ``call.settings``, and a bad variable stops
    start-up with an error naming it.
    """

    def attach(target: Target) -> Target:
        target.settings_class = settings_class  # type: ignore[attr-defined]
        return target

    return attach


def on_startup(hook: StartupHook) -> Callable[[Target], Target]:
    """Run ``hook(settings)`` once per process, before the service takes calls.

    The audio service awaits it before it listens, so ``/healthz`` says ready only
    once it is done: load and warm models here, not in the first call. Its exception
    stops start-up. ``settings`` is the handler's ``call.settings`` (or None).
    """

    def attach(target: Target) -> Target:
        target.startup = hook  # type: ignore[attr-defined]
        return target

    return attach
