"""One call's I/O: the connection it rides on, and the control a handler uses.

Outbound messages are written synchronously, the way websockets' own
``broadcast()`` does: the Sans-I/O protocol serialises the frame and the
transport takes the bytes. A handler never waits to send, and a frame costs no
coroutine. Memory stays bounded all the same:

- the transport's high-water mark is ``OUTBOUND_BUFFER_BYTES``; above it the
  server stops reading this call until the peer catches up;
- if the buffer stays above that mark for ``SEND_TIMEOUT`` (a peer that stopped
  reading), or grows past four times it (a handler that never waits), the TCP
  connection is aborted. A close frame would only queue behind the audio the
  peer is not reading.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from websockets.asyncio.server import ServerConnection
from websockets.protocol import OPEN

from audio_socket.errors import CallError, CloseCode, Outcome, PeerNotReading
from audio_socket.framing import AudioBytes, Reframer
from audio_socket.protocol import CLEAR_MESSAGE, CallStart, build_notify

#: The hard cap on a call's outbound buffer, in high-water marks.
HARD_CAP_FACTOR: Final = 4


#: What it means when this server sent the first close frame. 1001 from a
#: handler is a completed call; from the drain, a drained one.
_OUTCOME_OF_SENT_CODE: Final[dict[int, Outcome]] = {
    CloseCode.NORMAL_CLOSURE: Outcome.COMPLETED,
    CloseCode.GOING_AWAY: Outcome.COMPLETED,
    CloseCode.PROTOCOL_ERROR: Outcome.REJECTED_PROTOCOL,
    CloseCode.UNSUPPORTED_DATA: Outcome.REJECTED_PROTOCOL,
    CloseCode.INVALID_DATA: Outcome.REJECTED_PROTOCOL,
    CloseCode.POLICY_VIOLATION: Outcome.REJECTED_PROTOCOL,
    CloseCode.MESSAGE_TOO_BIG: Outcome.REJECTED_LIMIT,
}
#: Close codes a peer ends a call with in the ordinary way (1005: no code).
_PEER_NORMAL_CODES: Final = frozenset({1000, 1001, 1005})


class Ending(NamedTuple):
    """How a connection ended: close code, reason, and the metric outcome."""

    code: int
    reason: str
    outcome: Outcome

    @classmethod
    def of_error(cls, error: CallError) -> Ending:
        """The ending an error imposes."""
        return cls(int(error.close_code), error.reason, error.outcome)


class CallConnection(ServerConnection):
    """A server connection that knows what the audio service needs about it.

    It records when TCP was accepted (for the handshake metric and deadline),
    which call its credential admits, and it aborts itself when its outbound
    buffer stays full for ``stall_timeout``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted_at = self.loop.time()
        #: The ``sub`` of the verified credential; set at the upgrade.
        self.call_uuid: str | None = None
        #: Seconds the write buffer may stay above its high-water mark.
        self.stall_timeout: float | None = None
        #: True once this connection was aborted for not reading.
        self.stalled = False
        #: Called once when the TCP connection is gone (frees a call slot).
        self.on_lost: Callable[[CallConnection], None] | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    def ending(self, *, going_away: bool) -> Ending:
        """How this closed connection ended, from the close frames exchanged.

        ``going_away``: the server was closing calls with 1001 to finish a drain.
        """
        if self.stalled:
            return Ending.of_error(PeerNotReading())
        protocol = self.protocol
        sent, received = protocol.close_sent, protocol.close_rcvd
        if sent is not None and not protocol.close_rcvd_then_sent:
            if sent.code == CloseCode.GOING_AWAY and going_away:
                return Ending(sent.code, sent.reason, Outcome.DRAINED)
            return Ending(
                sent.code, sent.reason, _OUTCOME_OF_SENT_CODE.get(sent.code, Outcome.FAILED)
            )
        if received is not None:
            normal = received.code in _PEER_NORMAL_CODES
            return Ending(
                received.code, received.reason, Outcome.COMPLETED if normal else Outcome.FAILED
            )
        return Ending(int(CloseCode.ABNORMAL_CLOSURE), "connection lost", Outcome.FAILED)

    def abort_stalled(self) -> None:
        """Abort: the peer is not reading what this call sends."""
        self.stalled = True
        self.transport.abort()

    def pause_writing(self) -> None:
        """The write buffer went over its high-water mark: start the stall clock."""
        super().pause_writing()
        if self.stall_timeout is not None and self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.stall_timeout, self.abort_stalled)

    def resume_writing(self) -> None:
        """The peer read enough: stop the stall clock."""
        super().resume_writing()
        self._cancel_stall_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Free what the connection held, after websockets has seen the loss."""
        self._cancel_stall_timer()
        super().connection_lost(exc)
        if self.on_lost is not None:
            on_lost, self.on_lost = self.on_lost, None
            on_lost(self)

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None


class SocketCall:
    """The :class:`~audio_socket.handlers.base.CallControl` of a live call.

    It also carries the call's traffic counters, which the server increments on
    the receive side and :meth:`send_audio` on the send side.
    """

    __slots__ = (
        "_buffer_cap",
        "_closing",
        "_conn",
        "_frame_bytes",
        "_protocol",
        "_reframer",
        "_start",
        "bytes_in",
        "bytes_out",
        "dtmf_events",
        "frames_in",
        "frames_out",
        "started_at",
    )

    def __init__(self, conn: CallConnection, start: CallStart, buffer_cap: int) -> None:
        self._conn = conn
        self._protocol = conn.protocol
        self._start = start
        self._frame_bytes = start.frame_bytes
        self._reframer = Reframer(start.frame_bytes)
        self._buffer_cap = buffer_cap
        self._closing: asyncio.Task[None] | None = None
        self.started_at = conn.loop.time()
        self.frames_in = self.bytes_in = 0
        self.frames_out = self.bytes_out = 0
        self.dtmf_events = 0

    @property
    def start(self) -> CallStart:
        """The call's first message."""
        return self._start

    @property
    def call_uuid(self) -> str | None:
        """The call uuid from the first message (equal to the credential's)."""
        return self._start.call_uuid

    def send_audio(self, audio: AudioBytes) -> None:
        """Send ``audio`` as whole frames; a remainder waits for more."""
        if len(audio) == self._frame_bytes and not self._reframer.pending:
            self._write_frame(audio)
        else:
            for frame in self._reframer.push(audio):
                self._write_frame(frame)

    def flush_audio(self) -> None:
        """Send the carried partial frame, completed with silence."""
        frame = self._reframer.pad()
        if frame is not None:
            self._write_frame(frame)

    def clear(self) -> None:
        """``{"action":"clear"}``: Vonage drops unplayed audio; so does the re-framer."""
        self._reframer.clear()
        self._write_text(CLEAR_MESSAGE)

    def notify(self, payload: Mapping[str, Any]) -> None:
        """``{"action":"notify"}``: answered once audio sent before it has played."""
        self._write_text(build_notify(payload))

    def close(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; the server's read loop ends when it completes."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._conn.close(code, reason))

    async def drain(self) -> None:
        """Wait until the outbound buffer is below its high-water mark.

        Returns early if the connection is lost: the next read reports that.
        """
        if self._conn.paused:
            with contextlib.suppress(Exception):
                await self._conn.drain()

    async def wait_closing(self) -> None:
        """Let a handler-initiated close finish (called by the server at the end)."""
        if self._closing is not None:
            with contextlib.suppress(Exception):
                await self._closing

    def _write_frame(self, frame: AudioBytes) -> None:
        protocol, conn = self._protocol, self._conn
        if protocol.state is not OPEN or conn.transport.is_closing():
            return  # closing or aborted: audio no longer has anywhere to go
        protocol.send_binary(frame)
        conn.send_data()
        self.frames_out += 1
        self.bytes_out += len(frame)
        if conn.paused and conn.transport.get_write_buffer_size() > self._buffer_cap:
            conn.abort_stalled()

    def _write_text(self, text: str) -> None:
        if self._protocol.state is OPEN and not self._conn.transport.is_closing():
            self._protocol.send_text(text.encode())
            self._conn.send_data()
