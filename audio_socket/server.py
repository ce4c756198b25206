"""The audio server: an asyncio server whose connections feed the protocol core.

One process serves many calls. For each connection (``connection.py`` drives
websockets' Sans-I/O protocol from the event loop's callbacks):

1. :meth:`AudioServer.respond` answers ``/healthz`` and ``/metrics``, and
   admits an upgrade on ``/socket`` only with a valid credential and a free
   call slot (401 and 503 otherwise: no socket, nothing read);
2. the first message must open the call (``protocol.parse_first_message``);
3. then binary messages go to the handler as audio and text messages to it as
   classified events, straight from the connection's ``data_received``;
4. however the call ends, the handler hears it once, and one log line and the
   metrics record it.

Errors become HTTP statuses or close codes here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from http import HTTPStatus
from typing import Any, Final

from websockets.http11 import Request, Response

from audio_socket.admission import Admissions
from audio_socket.call import HARD_CAP_FACTOR, SocketCall
from audio_socket.call_control import CallRest
from audio_socket.callbacks import MaybeAwaitable
from audio_socket.connection import CallConnection, Limits
from audio_socket.credentials import Credential, parse_authorization, verify_credential
from audio_socket.endings import Ending
from audio_socket.errors import (
    CallError,
    CallLimitReached,
    CloseCode,
    CredentialMismatch,
    HandlerFailed,
    HandshakeRejected,
    PolicyViolation,
    Superseded,
    UnsupportedVersion,
)
from audio_socket.handler import CallEnd, CallHandler
from audio_socket.loading import LoadedHandler
from audio_socket.loop_lag import LoopLagProbe
from audio_socket.metrics import Metrics
from audio_socket.playout import PlayoutClock
from audio_socket.protocol import CallStart, Dtmf, Notified, parse_event, parse_first_message
from audio_socket.settings import AudioSettings
from audio_socket.voice_api import VoiceApi

SOCKET_PATH: Final = "/socket"
#: RFC 6455's, the only one there is.
WEBSOCKET_VERSION: Final = "13"
HEALTH_PATH: Final = "/healthz"
METRICS_PATH: Final = "/metrics"
#: Seconds on_end waits for the call's cancelled tasks to stop.
TASKS_STOP_TIMEOUT: Final = 5.0
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger("audio_socket")


class AudioServer:
    """The WebSocket audio service on one host and port."""

    def __init__(self, settings: AudioSettings, handler: LoadedHandler) -> None:
        self.settings = settings
        self._handler = handler
        self._secret = settings.socket_token_secret.get_secret_value().encode()
        s = settings
        self._limits = Limits(
            handshake_timeout=s.handshake_timeout,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            close_timeout=s.close_timeout,
            send_timeout=s.send_timeout,
            max_message_bytes=s.max_message_bytes,
            outbound_buffer_bytes=s.outbound_buffer_bytes,
            buffer_cap=s.outbound_buffer_bytes * HARD_CAP_FACTOR,
        )
        #: Every TCP connection, and ends of calls still running a handler's on_end.
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open: set[CallConnection] = set()
        #: Admitted upgrades until their TCP connection closes: MAX_CALLS counts these.
        self._sessions: dict[CallConnection, _Session] = {}
        #: Used credentials and each call's live socket (docs/security.md).
        self._admissions: Admissions[CallConnection] = Admissions()
        #: Calls past their first message: the live traffic counters.
        self._calls: set[SocketCall] = set()
        self.metrics = Metrics(lambda: self._calls, max_calls=s.max_calls)
        self.draining = False
        #: True once the calls left at the end of a drain are being closed.
        self._going_away = False
        self._server: asyncio.Server | None = None
        #: Keepalive is one sweep over the calls, this often: pings leave and
        #: missing pongs are noticed within a quarter of the shorter setting.
        self._sweep_period = min(s.ping_interval, s.ping_timeout) / 4
        self._keepalive: asyncio.TimerHandle | None = None
        #: Handlers' on_end coroutines still running.
        self._finishing: set[asyncio.Future[None]] = set()
        application = settings.application()
        #: The Voice REST API client of handlers' call control; None without credentials.
        self.voice_api = (
            VoiceApi(
                application, settings.vonage_api_timeout, observe=self.metrics.record_voice_api
            )
            if application
            else None
        )
        #: The one tick that paces every call's prompts (playout.py).
        self._loop_lag = LoopLagProbe(self.metrics.record_loop_lag)
        self.playout_clock = PlayoutClock(s.playout_lead_ms / 1000)

    # Lifecycle

    async def start(self) -> None:
        """Bind and start listening."""
        s = self.settings
        loop = asyncio.get_running_loop()
        if self._handler.startup is not None:  # models and the like, before any call
            await self._handler.startup(self._handler.settings)
        self._server = await loop.create_server(self._connect, s.audio_host, s.audio_port)
        self._keepalive = loop.call_later(self._sweep_period, self._sweep_keepalive)
        self._loop_lag.start()
        log.info(
            "listening",
            extra={
                "host": s.audio_host,
                "port": self.port,
                "max_calls": s.max_calls,
                "handler": self._handler.description,
                "event_loop": type(loop).__module__.partition(".")[0],
            },
        )

    @property
    def port(self) -> int:
        """The bound TCP port (useful when configured as 0)."""
        return int(self._running.sockets[0].getsockname()[1])

    @property
    def _running(self) -> asyncio.Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    @property
    def live_calls(self) -> int:
        """Admitted connections not yet closed."""
        return len(self._sessions)

    def stop_accepting(self) -> None:
        """Start draining: stop listening at once, fail health; live calls go on."""
        self.draining = True
        self.metrics.draining = True
        self._running.close()  # closes the listening sockets now, not the connections

    async def close_calls(
        self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "server draining"
    ) -> None:
        """Close every admitted connection, by default with 1001 so Vonage reconnects."""
        self._going_away = self._going_away or code == CloseCode.GOING_AWAY
        connections = list(self._sessions)
        for conn in connections:
            # A call hanging up or transferring is left to Vonage to end: a close now
            # would turn its deliberate end into a reconnect (call_control.py).
            live = self._sessions[conn].live
            if live is None or not live.call.ending:
                conn.close(code, reason)  # aborted after CLOSE_TIMEOUT if the peer is silent
        await asyncio.gather(*(conn.wait_closed() for conn in connections))

    async def wait_closed(self) -> None:
        """Wait until listening stopped and every connection and call has ended."""
        await self._running.wait_closed()
        await self._idle.wait()
        if self._keepalive is not None and not self._running.is_serving():
            self._keepalive.cancel()
            self._keepalive = None
            self.playout_clock.stop()
            self._loop_lag.stop()

    async def aclose(self) -> None:
        """Stop listening, close live calls with 1001 and wait for them."""
        if not self.draining:
            self.stop_accepting()
        for conn in self._open - self._sessions.keys():
            conn.abort()  # HTTP requests in flight
        await self.close_calls()
        await self.wait_closed()
        if self.voice_api is not None:
            self.voice_api.close()

    async def __aenter__(self) -> AudioServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _sweep_keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        now, ping = loop.time(), os.urandom(4)
        for conn in list(self._sessions):
            conn.keep_alive(now, ping)
        self._keepalive = loop.call_later(self._sweep_period, self._sweep_keepalive)

    def _connect(self) -> CallConnection:
        conn = CallConnection(self, self._limits)
        self._open.add(conn)
        self._hold()
        return conn

    def _hold(self) -> None:
        self._busy += 1
        self._idle.clear()

    def _release(self) -> None:
        self._busy -= 1
        if not self._busy:
            self._idle.set()

    # HTTP, before any upgrade (ConnectionHost)

    def respond(self, conn: CallConnection, request: Request) -> Response | None:
        """Route a request: ``None`` upgrades ``/socket``; anything else is answered."""
        path = request.path.partition("?")[0]
        if path == SOCKET_PATH:
            try:
                self._admit(conn, request)
            except HandshakeRejected as exc:
                return self._reject(conn, exc)
            return None
        if path == HEALTH_PATH:
            if self.draining:
                return _respond(conn, HTTPStatus.SERVICE_UNAVAILABLE, '{"status":"draining"}')
            return _respond(conn, HTTPStatus.OK, '{"status":"ok"}')
        if path == METRICS_PATH:
            body = self.metrics.render().decode()
            return _respond(conn, HTTPStatus.OK, body, METRICS_CONTENT_TYPE)
        return conn.protocol.reject(HTTPStatus.NOT_FOUND, "Not Found\n")

    def _admit(self, conn: CallConnection, request: Request) -> None:
        versions = request.headers.get_all("Sec-WebSocket-Version")
        if versions and versions != [WEBSOCKET_VERSION]:
            raise UnsupportedVersion(f"WebSocket version {versions[0][:16]!r} is not 13")
        token = parse_authorization(request.headers.get_all("Authorization"))
        credential = verify_credential(token, self._secret)
        # 401 for a used jti, 409 for a stale attempt; the jti is recorded only in
        # opened(), once the upgrade is accepted, so a full replica has not used it up.
        superseded = self._admissions.check(credential, time.time())
        # A call that supersedes its own live socket takes no more room than it had.
        live = len(self._sessions) - (superseded is not None)
        if live >= self.settings.max_calls:
            raise CallLimitReached("call limit reached")
        conn.call_uuid = credential.call_uuid
        session = self._sessions[conn] = _Session(self, conn, credential)
        session.supersedes = superseded

    def _reject(self, conn: CallConnection, exc: HandshakeRejected) -> Response:
        self.metrics.record_outcome(exc.outcome)
        log.warning(
            "upgrade rejected",
            extra={"status": exc.status.value, "reason": str(exc), "outcome": exc.outcome},
        )
        response = conn.protocol.reject(exc.status, f"{exc.status.phrase}\n")
        if exc.status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="audio_socket"'
        elif exc.status is HTTPStatus.UPGRADE_REQUIRED:
            # RFC 6455 §4.2.2: name the version this server speaks.
            response.headers["Upgrade"] = "websocket"
            response.headers["Sec-WebSocket-Version"] = WEBSOCKET_VERSION
        return response

    # WebSocket, after the upgrade (ConnectionHost)

    def opened(self, conn: CallConnection) -> None:
        """The upgrade is done: the first message must open the call."""
        session = self._sessions[conn]
        session.opened = True
        credential = session.credential
        self._admissions.admit(credential, conn)
        if session.supersedes is not None:
            self._supersede(session.supersedes, credential)
            session.supersedes = None
        conn.on_binary = session.receive_first
        conn.on_text = session.receive_first

    def _supersede(self, conn: CallConnection, credential: Credential) -> None:
        """Close the call's older socket with 1000 ``superseded``: a later attempt is in."""
        session = self._sessions.get(conn)
        if session is None or session.error is not None:
            return
        log.info(
            "call superseded",
            extra={"call_uuid": credential.call_uuid, "attempt": credential.attempt},
        )
        session.error = Superseded()
        conn.close(session.error.close_code, session.error.reason)

    def handshake_expired(self, conn: CallConnection) -> None:
        """No ``websocket:connected`` in time: a silent peer holds a slot for no call."""
        self.message_failed(conn, PolicyViolation("no websocket:connected in time"))

    def message_failed(self, conn: CallConnection, exc: BaseException) -> None:
        """Map what a message raised to a close code: the one place it happens."""
        session = self._sessions.get(conn)
        if session is None or session.error is not None:
            return
        if isinstance(exc, CallError) and session.live is None:
            session.error = exc
        else:
            log.error("call handler failed", exc_info=exc, extra={"call_uuid": conn.call_uuid})
            session.error = HandlerFailed()
        error = session.error
        if error.abort:
            conn.abort()
        else:
            conn.close(error.close_code, error.reason)

    def closed(self, conn: CallConnection) -> None:
        """The TCP connection is gone: end its call, once."""
        self._open.discard(conn)
        session = self._sessions.pop(conn, None)
        if session is not None:
            self._admissions.release(session.credential.call_uuid, conn)
        if session is not None and session.opened:
            if session.live is None:
                self._end_unstarted(session)
            else:
                self._end_call(session, session.live)
        self._release()

    # Calls

    def new_handler(self, call: SocketCall) -> CallHandler:
        """A handler for a call that just started."""
        return self._handler.new(call)

    def start_call(self, session: _Session, start: CallStart) -> SocketCall:
        """Count and log a call that just sent a valid first message."""
        conn = session.conn
        if start.call_uuid != conn.call_uuid:
            raise CredentialMismatch
        conn.call_started()
        rest = CallRest(
            self.voice_api,
            session.credential.call_uuid,
            session.credential.region,
            lambda: self._call_released(conn),
        )
        call = SocketCall(
            conn,
            start,
            rest,
            self.playout_clock,
            settings=self._handler.settings,
            fail=lambda exc: self.message_failed(conn, exc),
        )
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
        return call

    def _call_released(self, conn: CallConnection) -> None:
        """A hang-up or transfer failed: if the drain is closing calls, close this one too."""
        if self._going_away and conn in self._sessions:
            conn.close(CloseCode.GOING_AWAY, "server draining")

    def _end_unstarted(self, session: _Session) -> None:
        conn = session.conn
        if session.error is not None:
            message, ending = "call rejected", Ending.of_error(session.error)
        else:
            message = "call ended before websocket:connected"
            ending = conn.ending(going_away=self._going_away)
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

    def _end_call(self, session: _Session, live: _Live) -> None:
        call = live.call
        self._calls.discard(call)
        tasks = call.end()
        if session.error is not None:
            ending = Ending.of_error(session.error)
        else:
            ending = session.conn.ending(going_away=self._going_away)
        self.metrics.record_call_end(call)
        self.metrics.record_outcome(ending.outcome)
        if tasks:  # on_end runs once they have stopped: what it releases they no longer use
            self._hold()
            self._track(self._end_after(tasks, live, ending))
        else:
            self._run_on_end(live, ending)

    def _run_on_end(self, live: _Live, ending: Ending) -> None:
        call = live.call
        pending: MaybeAwaitable = None
        try:
            pending = live.handler.on_end(CallEnd(ending.code, ending.reason, ending.outcome))
        except Exception:
            log.exception("call handler failed", extra={"call_uuid": call.call_uuid})
        if pending is None:
            _log_call_end(call, ending)
        else:
            self._hold()
            self._track(self._finish_call(call, ending, pending))

    def _track(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _end_after(self, tasks: list[asyncio.Task[Any]], live: _Live, ending: Ending) -> None:
        try:
            _, running = await asyncio.wait(tasks, timeout=TASKS_STOP_TIMEOUT)
            if running:  # a task that ignores its cancellation must not hold up the drain
                log.warning(
                    "call tasks still running after cancel",
                    extra={"call_uuid": live.call.call_uuid, "tasks": len(running)},
                )
            self._run_on_end(live, ending)
        finally:
            self._release()

    async def _finish_call(
        self, call: SocketCall, ending: Ending, pending: Awaitable[None]
    ) -> None:
        try:
            await pending
        except Exception:
            log.exception("call handler failed", extra={"call_uuid": call.call_uuid})
        finally:
            _log_call_end(call, ending)
            self._release()


class _Session:
    """What the server knows of one admitted connection, before and after its call starts."""

    __slots__ = ("conn", "credential", "error", "live", "opened", "server", "supersedes")

    def __init__(self, server: AudioServer, conn: CallConnection, credential: Credential) -> None:
        self.server = server
        self.conn = conn
        self.credential = credential
        self.opened = False
        #: The call's older live socket, closed once this upgrade is accepted.
        self.supersedes: CallConnection | None = None
        #: The started call and its handler; None until the first message opened it.
        self.live: _Live | None = None
        #: Why the server closed the call, if it did.
        self.error: CallError | None = None

    def receive_first(self, message: str | bytes) -> MaybeAwaitable:
        """The first message: it opens the call, or its error closes the socket."""
        start = parse_first_message(message)
        call = self.server.start_call(self, start)
        try:
            handler = self.server.new_handler(call)
        except Exception:
            # The call started: its end is still counted and logged once, with no handler.
            self.live = _Live(call, CallHandler())
            raise
        live = self.live = _Live(call, handler)
        # The hot path, 50 a second per call: the connection counts each frame
        # and hands it straight to the handler.
        self.conn.on_binary = handler.on_audio
        self.conn.on_text = live.receive_event
        return handler.on_start(call, start)


class _Live:
    """A started call and its handler: where the call's text events go."""

    __slots__ = ("call", "handler")

    def __init__(self, call: SocketCall, handler: CallHandler) -> None:
        self.call = call
        self.handler = handler

    def receive_event(self, text: str) -> MaybeAwaitable:
        """Text is an event, never audio, never echoed (§3)."""
        event = parse_event(text)
        call = self.call
        if isinstance(event, Dtmf):
            call.dtmf_events += 1
        elif isinstance(event, Notified) and call.notified(event.payload):
            return None  # the answer to a played(), not an event of the handler's
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "call event", extra={"call_uuid": call.call_uuid, "event": type(event).__name__}
            )
        return self.handler.on_event(event)


def _log_call_end(call: SocketCall, ending: Ending) -> None:
    log.info(
        "call ended",
        extra={
            "call_uuid": call.call_uuid,
            "attempt": call.start.attempt,
            "rate": call.start.sample_rate,
            "frames_in": call.frames_in,
            "frames_out": call.frames_out,
            "dtmf_events": call.dtmf_events,
            "frames_dropped": call.frames_dropped,
            "duration_s": round(asyncio.get_running_loop().time() - call.started_at, 3),
            "close_code": ending.code,
            "close_reason": ending.reason,
            "outcome": ending.outcome,
        },
    )


def _respond(
    conn: CallConnection, status: HTTPStatus, body: str, content_type: str = "application/json"
) -> Response:
    response = conn.protocol.reject(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
