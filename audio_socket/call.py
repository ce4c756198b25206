"""The ``Call`` a handler is given, as the server implements it, and its traffic counters.

Outbound messages are written synchronously: the connection frames them and
the transport takes the bytes. A handler never waits to send, and a frame costs
no coroutine. Memory stays bounded all the same (``connection.py``):

- the transport's high-water mark is ``OUTBOUND_BUFFER_BYTES``; above it the
  server stops reading this call until the peer catches up;
- if the buffer stays above that mark for ``SEND_TIMEOUT`` (a peer that stopped
  reading), or grows past four times it (a handler that never waits), the TCP
  connection is aborted. A close frame would only queue behind the audio the
  peer is not reading.

``send_audio`` is that raw path: right for an echo or anything that produces
audio at real time. A prompt goes through ``play()`` instead, which paces it
(``playout.py``) so that a long one never fills either buffer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from audio_socket.call_base import CallBase
from audio_socket.call_control import CallRest
from audio_socket.connection import CallConnection
from audio_socket.errors import CloseCode, PromptError
from audio_socket.framing import AudioBytes, PromptSource, Reframer
from audio_socket.playout import PLAYED_KEY, Playout, PlayoutClock, QueuedPrompt
from audio_socket.prompts import check_pcm, loader
from audio_socket.protocol import CLEAR_MESSAGE, CallStart, build_notify

log = logging.getLogger("audio_socket")

#: The hard cap on a call's outbound buffer, in high-water marks.
HARD_CAP_FACTOR: Final = 4


class SocketCall(CallBase):
    """The :class:`~audio_socket.handler.Call` of a live call on a socket.

    It also shows the call's traffic counters (the connection keeps them: it
    sees every binary message both ways).
    """

    __slots__ = (
        "_clock",
        "_conn",
        "_fail",
        "_frame_bytes",
        "_observer",
        "_playout",
        "_reframer",
        "_rest",
        "dtmf_events",
        "started_at",
    )

    def __init__(
        self,
        conn: CallConnection,
        start: CallStart,
        rest: CallRest,
        clock: PlayoutClock,
        *,
        settings: Any = None,
        fail: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__(start, settings)
        self._conn = conn
        self._rest = rest
        self._frame_bytes = start.frame_bytes
        self._reframer = Reframer(start.frame_bytes)
        self._clock = clock
        #: What ends the call when a task of its own raised (the server's 1011).
        self._fail = fail
        #: Made on the first play() or played(): an echo never needs one.
        self._playout: Playout | None = None
        self._observer: Callable[[AudioBytes], None] | None = None
        self.started_at = asyncio.get_running_loop().time()
        self.dtmf_events = 0

    def is_over(self) -> bool:
        """Whether the socket is gone or closing."""
        transport = self._conn.transport
        return transport is None or transport.is_closing()

    def fail(self, exc: BaseException) -> None:
        """A task of the call or its handler raised: log it and close with 1011."""
        if self._fail is not None:
            self._fail(exc)

    @property
    def frames_in(self) -> int:
        """Binary messages received."""
        return self._conn.frames_in

    @property
    def bytes_in(self) -> int:
        """Bytes of binary messages received."""
        return self._conn.bytes_in

    @property
    def frames_out(self) -> int:
        """Audio frames sent."""
        return self._conn.frames_out

    @property
    def bytes_out(self) -> int:
        """Audio bytes sent."""
        return self._conn.bytes_out

    def send_audio(self, audio: AudioBytes) -> None:
        """Send ``audio`` as whole frames; a remainder waits for more."""
        if len(audio) == self._frame_bytes and not self._reframer.pending:
            self._conn.send_binary(audio)  # the echo's path: one call, no copy
        else:
            for frame in self._reframer.push(audio):
                self._conn.send_binary(frame)

    def flush_audio(self) -> None:
        """Send the carried partial frame, completed with silence."""
        frame = self._reframer.pad()
        if frame is not None:
            self._conn.send_binary(frame)

    def clear(self) -> None:
        """``{"action":"clear"}``: Vonage drops unplayed audio; so do the re-framer
        and the playout queue (pending plays return, pending played() are False)."""
        self._reframer.clear()
        if self._playout is not None:
            self._playout.clear()
        self._write_text(CLEAR_MESSAGE)

    # Paced playout (playout.py)

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        """Queue a prompt, paced at real time; True once sent, False if cleared first.

        ``audio`` is 16-bit mono PCM at ``rate`` (default: the call's), or the
        path of a WAV file. Its place in the queue is taken now; reading and
        resampling happen in a worker thread.

        Raises:
            PromptError: ``audio`` is not whole 16-bit samples, ``rate`` is out
                of range or given with a WAV file (a WAV file that cannot be read
                fails the await).
        """
        playout = self._playout_of()
        call_rate = self._start.sample_rate
        pcm = None if isinstance(audio, (str, os.PathLike)) else audio
        if pcm is not None:
            check_pcm(pcm, rate)
        elif rate is not None:
            raise PromptError("rate is for PCM: a WAV file says its own rate")
        prompt = playout.enqueue()
        if pcm is not None and rate in (None, call_rate):
            playout.ready(prompt, pcm)
        elif not prompt.done.done():
            work = loader(audio, rate, call_rate)
            loading = asyncio.get_running_loop().run_in_executor(None, work)
            loading.add_done_callback(functools.partial(_loaded, playout, prompt))
        return prompt.done

    def played(self, timeout: float | None = None) -> Awaitable[bool]:
        """True once Vonage has played every frame queued or sent before this call
        (``notify``); False when ``clear()``, the end of the call or ``timeout``
        (default: the audio still to play, plus 2 s) came first."""
        return self._playout_of().played(timeout)

    def notified(self, payload: Mapping[str, Any]) -> bool:
        """A ``websocket:notify`` arrived: True when it answers a ``played()``."""
        return self._playout is not None and self._playout.answered(payload)

    def observe_played(self, observer: Callable[[AudioBytes], None] | None) -> None:
        """Have ``observer`` see each frame ``play()`` sends, as it leaves (a recorder)."""
        self._observer = observer
        if self._playout is not None:
            self._playout.tap = observer

    def end(self) -> list[asyncio.Task[Any]]:
        """The connection is gone: the inboxes close, the call's tasks are cancelled,
        pending plays and played() settle as False.

        Returns the tasks cancelled: ``on_end`` waits for them to stop.
        """
        tasks = self.end_tasks()
        if self._playout is not None:
            self._playout.close()
        return tasks

    def _playout_of(self) -> Playout:
        if self._playout is None:
            self._playout = Playout(self._conn, self._frame_bytes, self._clock, self.call_uuid)
            self._playout.tap = self._observer
        return self._playout

    def notify(self, payload: Mapping[str, Any]) -> None:
        """``{"action":"notify"}``: answered once audio sent before it has played.

        Raises:
            ValueError: ``payload`` uses the key ``played()`` reserves.
        """
        if PLAYED_KEY in payload:
            raise ValueError(f"the notify payload key {PLAYED_KEY!r} is reserved for played()")
        self._write_text(build_notify(payload))

    def close_socket(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the socket, not the call: Vonage posts ``disconnected`` and the call
        is reconnected (§4). ``on_end`` follows when the closing handshake completes."""
        self._conn.close(code, reason)

    def close(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Deprecated: ``close_socket`` (which reconnects the call) or ``hangup``."""
        warnings.warn(
            "call.close() closes only the socket, and Vonage reconnects the call: use"
            " hangup() to end the call, or close_socket() for what close() did",
            DeprecationWarning,
            stacklevel=2,
        )
        self.close_socket(code, reason)

    async def drain(self) -> None:
        """Wait until the outbound buffer is below its high-water mark.

        Returns early if the connection is lost.
        """
        await self._conn.drain()

    # Call control through Vonage's Voice REST API (audio_socket/call_control.py)

    @property
    def ending(self) -> bool:
        """True from an accepted ``hangup()`` or ``transfer()`` until the socket closes."""
        return self._rest.ending

    async def hangup(self) -> None:
        """End the phone call; Vonage then closes the socket, and no reconnect follows."""
        await self._rest.hangup(self._conn)

    async def transfer(self, ncco: Sequence[Any]) -> None:
        """Move the call to ``ncco`` (vonage-voice NCCO models); this socket leg ends."""
        await self._rest.transfer(self._conn, ncco)

    async def say(self, text: str, language: str | None = None) -> None:
        """Text-to-speech into the call; returns once Vonage has queued it."""
        await self._rest.say(text, language)

    async def send_dtmf(self, digits: str) -> None:
        """Play DTMF tones (0-9, *, #; p pauses 500 ms) into the call."""
        await self._rest.send_dtmf(digits)

    def _write_text(self, text: str) -> None:
        self._conn.send_text(text)


def _loaded(playout: Playout, prompt: QueuedPrompt, loading: asyncio.Future[bytes]) -> None:
    if loading.cancelled():  # the loop is closing
        playout.fail(prompt, None)
    elif (exc := loading.exception()) is not None:
        playout.fail(prompt, exc)
    else:
        playout.ready(prompt, loading.result())
