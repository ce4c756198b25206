"""One TCP connection: the HTTP upgrade, then the WebSocket that carries a call.

An ``asyncio.Protocol`` drives websockets' Sans-I/O ``ServerProtocol``
directly: bytes in through :class:`~audio_socket.wire.FrameReader`, bytes out
to the transport. There is no reader task and no coroutine per frame; the
event loop calls :meth:`data_received` and a binary frame's payload reaches
the call's ``on_binary`` in the same call. Timers do the rest, armed only
when needed: the handshake deadline, the closing handshake's timeout, and the
stall timeout of a peer that stops reading. Keepalive pings are one sweep of
the server over all calls (:meth:`CallConnection.keep_alive`).

What the connection does with requests and messages is its host's business
(:class:`ConnectionHost`, the server): the connection only knows WebSocket.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from audio_socket.callbacks import MaybeAwaitable
from audio_socket.endings import Ending, ending_of
from audio_socket.errors import CloseCode
from audio_socket.framing import AudioBytes
from audio_socket.logs import library_logger
from audio_socket.wire import FrameReader, binary_header

#: What a message callback returns: nothing, or something to finish before the next.
OnMessage = Callable[[bytes], MaybeAwaitable]
OnText = Callable[[str], MaybeAwaitable]


class Limits(NamedTuple):
    """The per-connection limits, in seconds and bytes (from the settings)."""

    handshake_timeout: float
    ping_interval: float
    ping_timeout: float
    close_timeout: float
    send_timeout: float
    max_message_bytes: int
    outbound_buffer_bytes: int
    #: Outbound bytes past which a call is aborted at once.
    buffer_cap: int


class ConnectionHost(Protocol):
    """What the server does for its connections."""

    def respond(self, conn: CallConnection, request: Request) -> Response | None:
        """The answer to an HTTP request; ``None`` upgrades to a WebSocket."""
        ...

    def opened(self, conn: CallConnection) -> None:
        """The upgrade is done: set ``on_binary`` and ``on_text``."""
        ...

    def message_failed(self, conn: CallConnection, exc: Exception) -> None:
        """A message callback raised ``exc``."""
        ...

    def handshake_expired(self, conn: CallConnection) -> None:
        """The WebSocket is open but the call did not start in time."""
        ...

    def closed(self, conn: CallConnection) -> None:
        """The TCP connection is gone."""
        ...


class CallConnection(FrameReader, asyncio.Protocol):
    """The WebSocket side of one call, driven by the event loop's callbacks.

    It is its own :class:`~audio_socket.wire.FrameReader`: the event loop's
    ``data_received`` is the reader's ``feed``, so an audio frame reaches the
    handler through two Python calls, and a sent frame leaves through two more
    (the per-frame path: docs/architecture.md, docs/performance.md).
    """

    # Hundreds per process: slots keep each a few hundred bytes smaller.
    __slots__ = (
        "_backlog",
        "_close_timer",
        "_closed",
        "_drained",
        "_fragments",
        "_handshake_timer",
        "_header",
        "_header_size",
        "_host",
        "_limits",
        "_loop",
        "_message_opcode",
        "_open",
        "_ping_data",
        "_ping_due",
        "_pong_due",
        "_stall_timer",
        "_waiting",
        "accepted_at",
        "bytes_in",
        "bytes_out",
        "call_uuid",
        "frames_in",
        "frames_out",
        "on_binary",
        "on_text",
        "paused",
        "stalled",
        "started",
        "transport",
    )

    def __init__(self, host: ConnectionHost, limits: Limits) -> None:
        self._host = host
        self._limits = limits
        #: True while the protocol is OPEN (read on every frame sent; kept by
        #: :meth:`_write_output`, which follows every call into the protocol).
        self._open = False
        super().__init__(ServerProtocol(max_size=limits.max_message_bytes, logger=library_logger()))
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self.accepted_at = self._loop.time()
        #: The ``sub`` of the verified credential; set at the upgrade.
        self.call_uuid: str | None = None
        #: Where messages go; the host sets them when the upgrade is done.
        self.on_binary: OnMessage = _refuse
        self.on_text: OnText = _refuse
        #: Binary messages received and sent, and their bytes.
        self.frames_in = self.bytes_in = self.frames_out = self.bytes_out = 0
        #: True once the handshake ended with ``websocket:connected``.
        self.started = False
        #: True once this connection was aborted for not reading.
        self.stalled = False
        #: True while the transport's buffer is above its high-water mark.
        self.paused = False
        self._header = b""  # binary_header() of the last frame size sent
        self._header_size = -1
        self._fragments: list[bytes] | None = None
        self._message_opcode = Opcode.BINARY
        #: True while a message callback's awaitable runs: later messages wait.
        self._waiting = False
        self._backlog: collections.deque[tuple[bool, bytes]] | None = None
        self._drained: asyncio.Future[None] | None = None
        #: Created when someone waits for the end; True once the connection is gone.
        self._closed: asyncio.Future[None] | bool = False
        self._handshake_timer: asyncio.TimerHandle | None = None
        #: Keepalive (the server's sweep calls :meth:`keep_alive`): when the next
        #: ping is due, and when the pong of the ping out is due (0: none out).
        self._ping_due = 0.0
        self._pong_due = 0.0
        self._close_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._ping_data = b""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Arm the handshake deadline: it covers the upgrade and the first message."""
        self.transport = transport = cast("asyncio.Transport", transport)
        transport.set_write_buffer_limits(high=self._limits.outbound_buffer_bytes)
        self._handshake_timer = self._loop.call_at(
            self.accepted_at + self._limits.handshake_timeout, self._handshake_expired
        )

    #: Bytes in: plain audio frames come back through ``_receive_binary``.
    data_received = FrameReader.feed

    def eof_received(self) -> None:
        """The peer closed its side; websockets decides how the connection ended."""
        self.feed_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop every timer; tell the host once."""
        self.protocol.receive_eof()  # idempotent: CLOSED from here on
        self._open = False
        self._rearm()
        for timer in (
            self._handshake_timer,
            self._close_timer,
            self._stall_timer,
        ):
            if timer is not None:
                timer.cancel()
        self._release_drain()
        if isinstance(self._closed, asyncio.Future):
            self._closed.set_result(None)
        self._closed = True
        self._host.closed(self)

    def pause_writing(self) -> None:
        """Over the high-water mark: read no more of this call; start the stall clock."""
        self.paused = True
        self._update_reading()
        if self._stall_timer is None:
            self._stall_timer = self._loop.call_later(self._limits.send_timeout, self.abort_stalled)

    def resume_writing(self) -> None:
        """The peer caught up."""
        self.paused = False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._release_drain()
        self._update_reading()

    # For the call

    def send_binary(self, data: AudioBytes) -> bool:
        """Send one binary message; False if the connection can no longer send."""
        transport = self.transport
        if not self._open or transport is None or transport.is_closing():
            return False
        size = len(data)
        if self._debug:
            self.protocol.send_binary(data)
            self._write_output()
        else:
            if size != self._header_size:
                self._header, self._header_size = binary_header(size), size
            transport.write(self._header + data)
        self.frames_out += 1
        self.bytes_out += size
        if self.paused and transport.get_write_buffer_size() > self._limits.buffer_cap:
            self.abort_stalled()
        return True

    def send_text(self, text: str) -> None:
        """Send one text message, if the connection is open."""
        if self.protocol.state is OPEN and not self._transport_closing():
            self.protocol.send_text(text.encode())
            self._write_output()

    def close(self, code: CloseCode, reason: str) -> None:
        """Start the closing handshake; the TCP connection is aborted after CLOSE_TIMEOUT."""
        if self.protocol.state is OPEN and not self._transport_closing():
            self.protocol.send_close(code, reason)
            self._write_output()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        if self.transport is not None:
            self.transport.abort()

    def abort_stalled(self) -> None:
        """Abort: the peer is not reading what this call sends."""
        self.stalled = True
        self.abort()

    def call_started(self) -> None:
        """The first message was accepted: the handshake deadline no longer applies."""
        self.started = True
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    async def drain(self) -> None:
        """Wait until the outbound buffer is below its high-water mark (or the end)."""
        if self.paused and self._closed is not True:
            if self._drained is None:
                self._drained = self._loop.create_future()
            await asyncio.shield(self._drained)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is gone."""
        if self._closed is True:
            return
        if self._closed is False:
            self._closed = self._loop.create_future()
        await asyncio.shield(self._closed)

    def ending(self, *, going_away: bool) -> Ending:
        """How this closed connection ended (see :func:`~audio_socket.endings.ending_of`)."""
        return ending_of(self.protocol, stalled=self.stalled, going_away=going_away)

    # Receiving

    def _receive_binary(self, data: bytes) -> None:
        if self._waiting:
            self._hold_back(True, data)
            return
        self.frames_in += 1
        self.bytes_in += len(data)
        try:
            pending = self.on_binary(data)
        except Exception as exc:
            self._host.message_failed(self, exc)
            return
        if pending is not None:
            self._wait_for(pending)

    def _receive_text(self, data: bytes) -> None:
        if self._waiting:
            self._hold_back(False, data)
            return
        try:
            text = codecs.decode(data, "utf-8")
        except UnicodeDecodeError as exc:
            # RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection.
            self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self._write_output()
            return
        try:
            pending = self.on_text(text)
        except Exception as exc:
            self._host.message_failed(self, exc)
            return
        if pending is not None:
            self._wait_for(pending)

    def _process_events(self) -> None:
        """Act on what websockets parsed, then write what it has to send."""
        protocol = self.protocol
        for event in protocol.events_received():
            if isinstance(event, Frame):
                self._receive_frame(event)
            elif isinstance(event, Request):
                self._answer(event)
        self._write_output()

    def _receive_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            if self._pong_due and frame.data == self._ping_data:
                self._pong_due = 0.0
                self._ping_due = self._loop.time() + self._limits.ping_interval
            return
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:  # the first fragment (websockets checked the sequence)
                self._message_opcode = opcode
                self._fragments = [bytes(frame.data)]
                return
            data = bytes(frame.data)
        elif opcode is Opcode.CONT:
            fragments = self._fragments
            if fragments is None:
                return  # websockets refuses a stray continuation before it gets here
            fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            data = b"".join(fragments)
            self._fragments = None
            opcode = self._message_opcode
        else:
            return  # PING is answered and CLOSE handled by websockets
        if self.protocol.close_sent is not None:
            return  # the server is closing this call: its messages have nowhere to go
        if opcode is Opcode.TEXT:
            self._receive_text(data)
        else:
            self._receive_binary(data)

    def _answer(self, request: Request) -> None:
        protocol = self.protocol
        response = self._host.respond(self, request)
        if response is None:
            response = protocol.accept(request)
        protocol.send_response(response)
        if protocol.state is OPEN:
            self._host.opened(self)
            self._ping_due = self._loop.time() + self._limits.ping_interval

    # Handler back-pressure: a message callback that returns an awaitable
    # holds the next messages until it is done.

    def _wait_for(self, pending: Awaitable[None]) -> None:
        self._waiting = True
        self._update_reading()
        asyncio.ensure_future(pending).add_done_callback(self._done_waiting)

    def _done_waiting(self, future: asyncio.Future[None]) -> None:
        self._waiting = False
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, Exception):
            self._host.message_failed(self, exc)
        backlog = self._backlog
        while backlog and not self._waiting:
            binary, data = backlog.popleft()
            (self._receive_binary if binary else self._receive_text)(data)
        self._update_reading()

    def _hold_back(self, binary: bool, data: bytes) -> None:
        if self._backlog is None:
            self._backlog = collections.deque()
        self._backlog.append((binary, data))

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.paused or self._waiting:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # Sending

    def _write_output(self) -> None:
        transport, protocol = self.transport, self.protocol
        self._open = protocol.state is OPEN
        self._rearm()
        if transport is None:
            return
        for data in protocol.data_to_send():
            if data:
                if not transport.is_closing():
                    transport.write(data)
            elif transport.can_write_eof() and not transport.is_closing():
                transport.write_eof()
        if protocol.close_expected() and self._close_timer is None:
            # websockets closes the TCP connection when the peer does; a peer
            # that never does is cut off after CLOSE_TIMEOUT.
            self._close_timer = self._loop.call_later(self._limits.close_timeout, self.abort)

    def _transport_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def _release_drain(self) -> None:
        if self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None

    # Timers

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.protocol.state is OPEN:
            self._host.handshake_expired(self)
        elif self.transport is not None:
            self.transport.close()  # no HTTP request in time: nothing to answer

    def keep_alive(self, now: float, ping: bytes) -> None:
        """Ping when one is due; fail the call with 1011 when its pong is overdue.

        One sweep of the server's calls this for every call, instead of a timer
        per call (a uvloop timer costs about 600 bytes; hundreds of calls).
        """
        if self.protocol.state is not OPEN or self._transport_closing():
            return
        if self._pong_due:
            if now >= self._pong_due:
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                self._write_output()
        elif now >= self._ping_due:
            self._ping_data = ping
            self.protocol.send_ping(ping)
            self._write_output()
            self._pong_due = now + self._limits.ping_timeout


def _refuse(message: object) -> None:
    raise RuntimeError("no call is attached to this connection")
