"""The interface between the audio server and what a call does.

The server owns the socket and the protocol; a handler owns the call's
behaviour. The server calls, in order::

    on_start(call, start)   once, after the first message was accepted
    on_audio(frame)         for each inbound binary message (a 20 ms frame)
    on_event(event)         for each inbound text message (DTMF, cleared, ...)
    on_end(end)             once, after the socket closed, however it closed

Each method may be a plain function or a coroutine function: the server awaits
what it returns when that is not ``None``, and reads no further message until
then. Plain functions are cheapest on the 50-frames-a-second path. Work that
must not hold up reading belongs in a task the handler starts in ``on_start``
and stops in ``on_end``. An exception from a handler method closes the call
with 1011.

The handler acts on the call through :class:`CallControl`: ``send_audio``
(re-framed into whole frames), ``flush_audio``, ``clear``, ``notify`` and
``close``. Sending never blocks; a handler task that produces audio faster than
real time awaits ``drain()`` now and then.

A handler ends its call with ``await call.hangup()``, never ``close()``: Vonage
takes a socket the application closes for an accident, posts ``disconnected``,
and the call is reconnected (``on_start`` runs again, on whichever replica takes
it, with ``start.resumed`` true). ``hangup()``, ``transfer(ncco)``, ``say(text)``
and ``send_dtmf(digits)`` go through Vonage's Voice REST API
(``audio_socket/call_control.py``) and raise ``CallControlError`` when it fails,
leaving the socket open; call them from a task, not awaited in ``on_audio``.

Prompts go through ``play()``, not ``send_audio``: ``await call.play(pcm_or_wav)``
paces the prompt at real time with a small lead (``PLAYOUT_LEAD_MS``), so a
long prompt never fills Vonage's buffer or ours, ``clear()`` stops it at once
(barge-in) and ``await call.played()`` means the caller has heard it. Plays
queue in order. ``send_audio`` bypasses that queue: its frames go out at once,
between the prompt's frames, and the caller hears the two interleaved (the
pacing counts them against the lead, so the prompt slows down to make room).
Use one or the other at a time, or ``clear()`` between them.

A third handler is one new module, chosen with ``AUDIO_HANDLER=module:factory``
(the factory is called with no arguments, once per call)::

    # loudness.py: echo the caller, and log the loudest frame at the end
    import array, logging
    from audio_socket.handlers.base import CallControl, CallEnd, CallHandler
    from audio_socket.protocol import CallStart

    class LoudnessHandler(CallHandler):
        def on_start(self, call: CallControl, start: CallStart) -> None:
            self.call, self.peak = call, 0

        def on_audio(self, frame: bytes) -> None:
            self.peak = max(self.peak, max(map(abs, array.array("h", frame))))
            self.call.send_audio(frame)

        def on_end(self, end: CallEnd) -> None:
            logging.getLogger(__name__).info("peak %d", self.peak)

    # AUDIO_HANDLER=loudness:LoudnessHandler python -m audio_socket
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from audio_socket.callbacks import MaybeAwaitable
from audio_socket.errors import CloseCode, Outcome
from audio_socket.framing import AudioBytes
from audio_socket.prompts import PromptSource
from audio_socket.protocol import CallEvent, CallStart


@dataclass(frozen=True, slots=True)
class CallEnd:
    """How the call ended: the close code and reason, and the metric outcome."""

    code: int
    reason: str
    outcome: Outcome


class CallControl(Protocol):
    """What a handler may do to its call."""

    @property
    def start(self) -> CallStart:
        """The call's first message: rate, frame size, metadata."""
        ...

    def send_audio(self, audio: AudioBytes) -> None:
        """Send audio to the caller now, as whole frames only (§3): the raw path.

        Nothing paces it: for audio produced at real time (an echo). A prompt
        sent this way at once fills Vonage's buffer and ours, and past four
        times ``OUTBOUND_BUFFER_BYTES`` the call is aborted; use ``play()``.
        """
        ...

    def flush_audio(self) -> None:
        """Send the carried partial frame, completed with silence (end of utterance)."""
        ...

    def clear(self) -> None:
        """Barge-in: ask Vonage to drop audio it has buffered but not played (§3).

        Synchronous. Pending ``play()`` calls return False at once, pending
        ``played()`` calls return False (Vonage may never answer a ``notify``
        sent before a ``clear``), and the partial frame ``send_audio`` carried
        is dropped.
        """
        ...

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        """Play a prompt, paced at real time; await it: True once all of it was sent.

        ``audio`` is 16-bit mono little-endian PCM at ``rate`` (default: the
        call's rate; any other is resampled with soxr), or the path of a WAV
        file (integer PCM, any rate and channel count). Reading and resampling
        run in a worker thread. The prompt is sliced, not copied, so it must not
        change until the play returns. Returns False when ``clear()`` or the
        end of the call came first. Raises ``PromptError`` for audio that is
        not 16-bit PCM or a WAV file that cannot be read.
        """
        ...

    def played(self) -> Awaitable[bool]:
        """True once the caller has heard every frame handed to ``play()`` or
        ``send_audio()`` before this call (Vonage's ``notify``, §3); False when
        ``clear()`` or the end of the call came first. Its notify never reaches
        ``on_event``."""
        ...

    def notify(self, payload: Mapping[str, Any]) -> None:
        """Ask Vonage for ``websocket:notify`` once audio sent so far has played; the
        answer reaches ``on_event``. The key ``audio_socket_played`` is ``played()``'s."""
        ...

    def close(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """End the call: start the closing handshake; ``on_end`` follows."""
        ...

    async def drain(self) -> None:
        """Wait until the outbound buffer is below its high-water mark."""
        ...

    # Call control through Vonage's Voice REST API (docs/vonage-protocol.md §8). Each
    # raises CallControlError (audio_socket.errors) when the request fails, and
    # CallControlUnavailable without VONAGE_APPLICATION_ID and its key.

    async def hangup(self) -> None:
        """End the phone call. Vonage closes the socket; no reconnect follows.

        Returns once Vonage has accepted it (a timeout or a 5xx is retried once). On
        failure the socket stays open: closing it then means a reconnect.
        """
        ...

    async def transfer(self, ncco: Sequence[Any]) -> None:
        """Replace the call's NCCO with ``ncco``, a list of ``vonage_voice.models.ncco``
        actions (``Talk``, ``Connect``, ...); this socket leg then ends."""
        ...

    async def say(self, text: str, language: str | None = None) -> None:
        """Text-to-speech into the call; returns once Vonage has queued it, not spoken it."""
        ...

    async def send_dtmf(self, digits: str) -> None:
        """Play DTMF tones into the call: 0-9, ``*``, ``#``, ``p`` (a 500 ms pause)."""
        ...


class CallHandler:
    """Base class for handlers: every method does nothing unless overridden."""

    __slots__ = ()

    def on_start(self, call: CallControl, start: CallStart) -> MaybeAwaitable:
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


HandlerFactory = Callable[[], CallHandler]
