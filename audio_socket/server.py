"""The audio server: websockets' asyncio server feeding the protocol core.

One process serves many calls. For each connection:

1. ``process_request`` answers ``/healthz`` and ``/metrics``, and admits an
   upgrade on ``/socket`` only with a valid credential and a free call slot
   (401 and 503 otherwise: no socket, nothing read);
2. the first message must open the call (``protocol.parse_first_message``);
3. a read loop hands binary messages to the handler as audio and text
   messages to it as classified events;
4. however the call ends, the handler hears it once, and one log line and the
   metrics record it.

Errors become HTTP statuses or close codes here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from http import HTTPStatus
from typing import Final

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from audio_socket.call import HARD_CAP_FACTOR, CallConnection, Ending, SocketCall
from audio_socket.credentials import parse_authorization, verify_credential
from audio_socket.errors import (
    CallError,
    CallLimitReached,
    CloseCode,
    CredentialMismatch,
    HandlerFailed,
    HandshakeRejected,
    PolicyViolation,
)
from audio_socket.handlers.base import CallEnd, CallHandler, HandlerFactory
from audio_socket.logs import library_logger
from audio_socket.metrics import Metrics
from audio_socket.protocol import CallStart, Dtmf, parse_event, parse_first_message
from audio_socket.settings import AudioSettings

SOCKET_PATH: Final = "/socket"
HEALTH_PATH: Final = "/healthz"
METRICS_PATH: Final = "/metrics"
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger("audio_socket")


class AudioServer:
    """The WebSocket audio service on one host and port."""

    def __init__(self, settings: AudioSettings, handler_factory: HandlerFactory) -> None:
        self.settings = settings
        self._handler_factory = handler_factory
        self._secret = settings.socket_token_secret.get_secret_value().encode()
        self._buffer_cap = settings.outbound_buffer_bytes * HARD_CAP_FACTOR
        #: Admitted upgrades until their TCP connection closes: MAX_CALLS counts these.
        self._connections: set[CallConnection] = set()
        #: Calls past their first message: the live traffic counters.
        self._calls: set[SocketCall] = set()
        self.metrics = Metrics(lambda: self._calls)
        self.draining = False
        #: True once the calls left at the end of a drain are being closed.
        self._going_away = False
        self._server: Server | None = None

    # Lifecycle

    async def start(self) -> None:
        """Bind and start listening."""
        s = self.settings
        self._server = await serve(
            self._serve_connection,
            s.audio_host,
            s.audio_port,
            process_request=self._process_request,
            create_connection=CallConnection,
            # Audio does not compress; deflate would cost CPU on every frame.
            compression=None,
            server_header=None,
            open_timeout=s.handshake_timeout,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            close_timeout=s.close_timeout,
            max_size=s.max_message_bytes,
            write_limit=s.outbound_buffer_bytes,
            logger=library_logger(),
        )
        log.info(
            "listening",
            extra={"host": s.audio_host, "port": self.port, "max_calls": s.max_calls},
        )

    @property
    def port(self) -> int:
        """The bound TCP port (useful when configured as 0)."""
        return int(self._running.sockets[0].getsockname()[1])

    @property
    def _running(self) -> Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    @property
    def live_calls(self) -> int:
        """Admitted connections not yet closed."""
        return len(self._connections)

    def stop_accepting(self) -> None:
        """Start draining: stop listening at once, fail health; live calls go on."""
        self.draining = True
        self.metrics.draining = True
        server = self._running
        # websockets' close() only schedules closing the listener in a task;
        # asyncio's closes it now, so no dial can land from here on.
        server.server.close()
        server.close(close_connections=False)

    async def close_calls(
        self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "server draining"
    ) -> None:
        """Close every admitted connection, by default with 1001 so Vonage reconnects."""
        self._going_away = self._going_away or code == CloseCode.GOING_AWAY
        connections = list(self._connections)
        if connections:
            await asyncio.gather(*(self._close(conn, code, reason) for conn in connections))

    async def wait_closed(self) -> None:
        """Wait until listening stopped and every call's handler returned."""
        await self._running.wait_closed()

    async def aclose(self) -> None:
        """Stop listening, close live calls with 1001 and wait for them."""
        if not self.draining:
            self.stop_accepting()
        await self.close_calls()
        await self.wait_closed()

    async def __aenter__(self) -> AudioServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # HTTP, before any upgrade

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == SOCKET_PATH:
            try:
                self._admit(_call_connection(ws), request)
            except HandshakeRejected as exc:
                return self._reject(ws, exc)
            return None
        if path == HEALTH_PATH:
            if self.draining:
                return _respond(ws, HTTPStatus.SERVICE_UNAVAILABLE, '{"status":"draining"}')
            return _respond(ws, HTTPStatus.OK, '{"status":"ok"}')
        if path == METRICS_PATH:
            body = self.metrics.render().decode()
            return _respond(ws, HTTPStatus.OK, body, METRICS_CONTENT_TYPE)
        return ws.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    def _admit(self, conn: CallConnection, request: Request) -> None:
        token = parse_authorization(request.headers.get_all("Authorization"))
        credential = verify_credential(token, self._secret)
        if len(self._connections) >= self.settings.max_calls:
            raise CallLimitReached("call limit reached")
        conn.call_uuid = credential.call_uuid
        conn.stall_timeout = self.settings.send_timeout
        conn.on_lost = self._connections.discard
        self._connections.add(conn)

    def _reject(self, ws: ServerConnection, exc: HandshakeRejected) -> Response:
        self.metrics.record_outcome(exc.outcome)
        log.warning(
            "upgrade rejected",
            extra={"status": exc.status.value, "reason": str(exc), "outcome": exc.outcome},
        )
        response = ws.respond(exc.status, f"{exc.status.phrase}\n")
        if exc.status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="audio_socket"'
        return response

    # WebSocket, after the upgrade

    async def _serve_connection(self, ws: ServerConnection) -> None:
        conn = _call_connection(ws)
        try:
            start = await self._receive_start(conn)
        except CallError as exc:
            await self._close(conn, exc.close_code, exc.reason, abort=exc.abort)
            self._end_unstarted(conn, "call rejected", Ending.of_error(exc))
            return
        except ConnectionClosed:
            ending = conn.ending(going_away=self._going_away)
            self._end_unstarted(conn, "call ended before websocket:connected", ending)
            return
        await self._run_call(conn, start)

    async def _receive_start(self, conn: CallConnection) -> CallStart:
        # The handshake deadline covers the upgrade and the first message: a
        # peer that connects and says nothing holds a call slot for no call.
        deadline = conn.accepted_at + self.settings.handshake_timeout
        try:
            async with asyncio.timeout_at(deadline):
                message = await conn.recv()
        except TimeoutError:
            raise PolicyViolation("no websocket:connected in time") from None
        start = parse_first_message(message)
        if start.call_uuid != conn.call_uuid:
            raise CredentialMismatch
        return start

    async def _run_call(self, conn: CallConnection, start: CallStart) -> None:
        call = SocketCall(conn, start, self._buffer_cap)
        self._calls.add(call)
        self.metrics.record_handshake(call.started_at - conn.accepted_at)
        log.info(
            "call started",
            extra={
                "call_uuid": start.call_uuid,
                "attempt": start.attempt,
                "rate": start.sample_rate,
            },
        )
        handler: CallHandler | None = None
        error: CallError | None = None
        try:
            handler = self._handler_factory()
            await _settle(handler.on_start(call, start))
            await self._read_loop(conn, call, handler)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("call handler failed", extra={"call_uuid": start.call_uuid})
            error = HandlerFailed()
            await self._close(conn, error.close_code, error.reason)
        finally:
            self._calls.discard(call)
        await call.wait_closing()
        if error is not None:
            ending = Ending.of_error(error)
        else:
            ending = conn.ending(going_away=self._going_away)
        await self._end_call(call, handler, ending)

    async def _read_loop(
        self, conn: CallConnection, call: SocketCall, handler: CallHandler
    ) -> None:
        # The hot path: 50 messages a second per call. Bound methods and
        # counters on the call object; no per-frame logging unless DEBUG.
        recv = conn.recv
        on_audio = handler.on_audio
        on_event = handler.on_event
        debug = log.isEnabledFor(logging.DEBUG)
        while True:
            message = await recv()
            if isinstance(message, bytes):
                call.frames_in += 1
                call.bytes_in += len(message)
                pending = on_audio(message)
            else:
                # Text is an event, never audio, never echoed (§3).
                event = parse_event(message)
                if isinstance(event, Dtmf):
                    call.dtmf_events += 1
                if debug:
                    log.debug(
                        "call event",
                        extra={"call_uuid": call.call_uuid, "event": type(event).__name__},
                    )
                pending = on_event(event)
            if pending is not None:
                await pending
            if conn.paused:
                await call.drain()

    async def _close(
        self, conn: ServerConnection, code: int, reason: str, *, abort: bool = False
    ) -> None:
        """Close ``conn``; never wait longer than ``CLOSE_TIMEOUT``.

        websockets bounds the wait for the peer's close frame, but not a write
        into a full buffer: a peer that does not read is aborted.
        """
        if not abort:
            try:
                async with asyncio.timeout(self.settings.close_timeout):
                    await conn.close(code, reason)
            except TimeoutError:
                pass
            else:
                return
        conn.transport.abort()
        await conn.wait_closed()

    def _end_unstarted(self, conn: CallConnection, message: str, ending: Ending) -> None:
        self.metrics.record_outcome(ending.outcome)
        log.warning(
            message,
            extra={
                "call_uuid": conn.call_uuid,
                "close_code": ending.code,
                "close_reason": ending.reason,
                "outcome": ending.outcome,
            },
        )

    async def _end_call(
        self, call: SocketCall, handler: CallHandler | None, ending: Ending
    ) -> None:
        self.metrics.record_call_end(call)
        self.metrics.record_outcome(ending.outcome)
        if handler is not None:
            try:
                await _settle(handler.on_end(CallEnd(ending.code, ending.reason, ending.outcome)))
            except Exception:
                log.exception("call handler failed", extra={"call_uuid": call.call_uuid})
        log.info(
            "call ended",
            extra={
                "call_uuid": call.call_uuid,
                "attempt": call.start.attempt,
                "rate": call.start.sample_rate,
                "frames_in": call.frames_in,
                "frames_out": call.frames_out,
                "dtmf_events": call.dtmf_events,
                "duration_s": round(asyncio.get_running_loop().time() - call.started_at, 3),
                "close_code": ending.code,
                "close_reason": ending.reason,
                "outcome": ending.outcome,
            },
        )


def _call_connection(ws: ServerConnection) -> CallConnection:
    if not isinstance(ws, CallConnection):
        raise TypeError("the server creates CallConnection objects only")
    return ws


async def _settle(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


def _respond(
    ws: ServerConnection, status: HTTPStatus, body: str, content_type: str = "application/json"
) -> Response:
    response = ws.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
