"""One simulated call, run the way Vonage runs it.

docs/vonage-protocol.md §1-§5: fetch the NCCO from the answer URL, post the call's
events, run the NCCO — ``talk`` is shown, ``connect`` opens the WebSocket leg
and streams the caller's audio for ``seconds`` — and when the socket closes
under the live call (``disconnected``) or cannot be opened (``failed``), post
that to the connect's ``eventUrl`` and run the NCCO that comes back instead of
the rest: a new ``connect`` reconnects, a ``talk`` apologises. The caller hangs
up when their audio has been sent and its echo has come back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from websockets.frames import CLOSE_CODE_EXPLANATIONS, CloseCode

from simulator.audio import Pcm, Signal, build_signal
from simulator.errors import LegError, SimulatorError
from simulator.leg import AudioConnection, open_leg, serve_text
from simulator.ncco import Action, Connect, Talk
from simulator.pacer import Pacer
from simulator.signing import Signer
from simulator.stream import FRAME_SECONDS, CallAudio
from simulator.webhook import Exchange, WebhookClient

MAX_LEGS = 20  # a guard against an application that reconnects forever
# Calls being set up at once per process (answer, events, first upgrade). Many at once
# would delay the frames of calls already streaming; this only staggers their starts.
# Reconnects are not held back: their gap is what the run measures.
SETUP_SLOTS = 8
VARIANTS = 8
DRAIN_MIN_SECONDS = 1.0
CALLED_NUMBER = "447700900000"
CALLER_NUMBER = "447700900123"
DTMF_DIGITS = set("0123456789*#")


@dataclass(frozen=True)
class CallOptions:
    """What one call does."""

    base_url: str
    seconds: float = 10.0
    post: bool = False
    to: str = CALLED_NUMBER
    caller: str = CALLER_NUMBER
    dtmf: str = ""
    keep_audio: bool = False
    variant: int = 0  # which of the SignalCache's signals this call sends


class LegEnd(StrEnum):
    """How a WebSocket leg ended."""

    FAILED = "failed"  # it never opened
    CLOSED = "closed"  # the server closed it under the live call
    HUNG_UP = "hung up"  # the caller hung up: the call is over


class LegStatus(StrEnum):
    """The event posted about a leg that ended under a live call (docs/vonage-protocol.md §4)."""

    DISCONNECTED = "disconnected"
    FAILED = "failed"


@dataclass
class LegRecord:
    """One WebSocket leg: how it opened and how it ended."""

    number: int
    uri: str
    attempt: object
    opened_at: float | None = None
    ended_at: float | None = None
    first_frame: int = 0
    end_frame: int = 0
    end: LegEnd = LegEnd.FAILED
    detail: str = ""
    close_code: int | None = None


@dataclass
class CallRecord:
    """Everything one call did, raw: ``report.py`` turns it into figures."""

    uuid: str
    conversation_uuid: str
    seconds: float
    audio: CallAudio | None = None
    legs: list[LegRecord] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    talks: list[str] = field(default_factory=list)
    text_messages: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None


class SignalCache:
    """The caller's stamped frames per rate and variant, built once, shared by the calls.

    A process's calls take :data:`VARIANTS` different signals in turn (a few MB,
    not one signal per call): a frame delivered to the wrong call is then most
    likely one that call never sent, and fails its echo check.
    """

    def __init__(self, seconds: float, wav: Pcm | None = None) -> None:
        self.seconds = seconds
        self.wav = wav
        self._signals: dict[tuple[int, int], Signal] = {}

    def get(self, rate: int, variant: int = 0) -> Signal:
        """The frames at ``rate`` of one variant."""
        key = (rate, variant % VARIANTS)
        if key not in self._signals:
            self._signals[key] = build_signal(rate, self.seconds, self.wav, key[1])
        return self._signals[key]


@dataclass
class CallContext:
    """What calls in one process share."""

    webhooks: WebhookClient
    pacer: Pacer
    signals: SignalCache
    signer: Signer | None
    say: Callable[[str], None] = lambda _line: None
    setup_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SETUP_SLOTS))


def dtmf_schedule(digits: str, frames: int) -> list[tuple[int, str]]:
    """Key presses spread evenly through the call: (frame number, digit)."""
    return [(frames * (i + 1) // (len(digits) + 1), d) for i, d in enumerate(digits)]


def timestamp() -> str:
    """An event timestamp as Vonage writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Call:
    """Runs one call; :meth:`run` never raises a :exc:`SimulatorError`."""

    def __init__(self, options: CallOptions, context: CallContext) -> None:
        self.options = options
        self.ctx = context
        self.record = CallRecord(str(uuid.uuid4()), f"CON-{uuid.uuid4()}", options.seconds)
        self.finished: asyncio.Future[None] | None = None
        self.answered = False
        self.problem = ""
        self.in_setup = False

    @property
    def events_url(self) -> str:
        """The application's event URL."""
        return f"{self.options.base_url.rstrip('/')}/webhooks/events"

    async def run(self) -> CallRecord:
        """Place the call, run it to the end, post ``completed``."""
        record = self.record
        await self.ctx.setup_slots.acquire()
        self.in_setup = True
        record.started_at = time.monotonic()
        try:
            await self._run()
        except SimulatorError as exc:
            record.error = str(exc)
            self.ctx.say(f"error: {exc}")
        except Exception as exc:  # a bug here must fail this call, not the run
            record.error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            self._set_up()
            if record.audio is not None and self.finished is not None:
                self.ctx.pacer.remove(record.audio)
        record.ended_at = time.monotonic()
        if self.answered:
            try:
                await self._event("completed", self._completed_fields())
            except SimulatorError as exc:
                record.error = record.error or str(exc)
        return record

    def _set_up(self) -> None:
        """Set-up is over (audio flows, or the call ended): free the slot."""
        if self.in_setup:
            self.in_setup = False
            self.ctx.setup_slots.release()

    async def _run(self) -> None:
        answer_url = f"{self.options.base_url.rstrip('/')}/webhooks/answer"
        params = self._call_fields()
        ncco = await self.ctx.webhooks.answer(
            answer_url, params, post=self.options.post, log=self.record.exchanges
        )
        self.ctx.say(f"answer: {len(ncco)} NCCO actions from {answer_url}")
        for status in ("started", "ringing", "answered"):
            await self._event(status)
        self.answered = True
        await self._run_ncco(ncco)

    async def _run_ncco(self, ncco: list[Action]) -> None:
        actions = deque(ncco)
        while actions:
            action = actions.popleft()
            if isinstance(action, Talk):
                self.record.talks.append(action.text)
                self.ctx.say(f"talk: {action.text}")
                continue
            if len(self.record.legs) >= MAX_LEGS:
                raise SimulatorError(f"gave up after {MAX_LEGS} socket legs: {self.problem}")
            status = await self._connect(action)
            if status is None:
                return  # the caller hung up: the call is over
            replacement = await self._leg_event(action, status)
            if replacement is not None and action.synchronous:
                actions = deque(replacement)
        self._ended_early()

    def _ended_early(self) -> None:
        audio = self.record.audio
        if audio is None or audio.next == 0:
            raise SimulatorError(self.problem or "the NCCO ended the call before any audio")
        spoken = audio.next * FRAME_SECONDS
        raise SimulatorError(
            f"the call ended after {spoken:.1f} s of {self.options.seconds:g} s: {self.problem}"
        )

    async def _connect(self, action: Connect) -> LegStatus | None:
        """Run one leg; None when the caller hung up, else the leg event to post."""
        endpoint = action.endpoint
        leg = LegRecord(len(self.record.legs) + 1, endpoint.uri, endpoint.headers.get("attempt"))
        self.record.legs.append(leg)
        audio = self._audio_for(endpoint.rate)
        leg.first_frame = leg.end_frame = audio.next
        self.ctx.say(f"connect: {endpoint.uri} (leg {leg.number}, {endpoint.content_type})")
        try:
            connection = await open_leg(
                endpoint,
                authorization=self._authorization(action),
                ssl_context=self.ctx.webhooks.ssl_context,
            )
        except LegError as exc:
            leg.detail = self.problem = str(exc)
            self.ctx.say(f"failed: {exc}")
            return LegStatus.FAILED
        leg.opened_at = time.monotonic()
        hung_up = await self._stream(connection, audio, leg)
        leg.ended_at = time.monotonic()
        if hung_up:
            leg.end = LegEnd.HUNG_UP
            return None
        leg.end, leg.close_code = LegEnd.CLOSED, connection.close_code
        leg.detail = self.problem = describe_close(connection)
        self.ctx.say(f"disconnected: {leg.detail}")
        return LegStatus.DISCONNECTED

    def _audio_for(self, rate: int) -> CallAudio:
        signal = self.ctx.signals.get(rate, self.options.variant)
        audio = self.record.audio
        if audio is None:
            schedule = dtmf_schedule(self.options.dtmf, len(signal.frames))
            audio = CallAudio(signal, dtmf=schedule, keep=self.options.keep_audio)
            self.record.audio = audio
        elif audio.rate != rate:
            audio.use_signal(signal)
        return audio

    async def _stream(self, connection: AudioConnection, audio: CallAudio, leg: LegRecord) -> bool:
        """Stream until the caller hangs up (True) or the server closes the socket (False)."""
        connection.audio_sink = audio.on_audio
        audio.sink = connection
        if self.finished is None:
            self.finished = self.ctx.pacer.add(audio)
            self._set_up()
        reader = asyncio.create_task(serve_text(connection, audio.on_audio))
        try:
            waiters: set[asyncio.Future[Any]] = {self.finished, reader}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            hung_up = self.finished.done()
            if hung_up and (failure := self.finished.exception()) is not None:
                raise SimulatorError(f"sending audio failed: {failure!r}") from failure
            if hung_up:
                await self._drain(audio, leg, reader)
            audio.sink = None
            leg.end_frame = audio.next
            await connection.close()
            self.record.text_messages += await reader
        finally:
            audio.sink = None
            reader.cancel()
        return hung_up

    async def _drain(self, audio: CallAudio, leg: LegRecord, reader: asyncio.Task[int]) -> None:
        """Listen for the echo of the last frames before hanging up."""
        lag = 0.0
        if audio.last_matched >= 0:
            lag = audio.recv_at[audio.last_matched] - audio.sent_at[audio.last_matched]
        deadline = time.monotonic() + max(DRAIN_MIN_SECONDS, 2 * lag)
        pending = leg.first_frame
        while time.monotonic() < deadline and not reader.done():
            while pending < audio.n and (audio.recv_at[pending] or not audio.sent_at[pending]):
                pending += 1
            if pending >= audio.n:
                return
            await asyncio.sleep(FRAME_SECONDS)

    async def _leg_event(self, action: Connect, status: LegStatus) -> list[Action] | None:
        """Post ``disconnected`` or ``failed`` for the leg; the NCCO that came back."""
        leg = self.record.legs[-1]
        fields: dict[str, Any] = {
            "from": action.from_number or self.options.to,
            "to": action.endpoint.uri,
            "uuid": str(uuid.uuid4()),
            "conversation_uuid": self.record.conversation_uuid,
            "status": status,
            "direction": "outbound",
            "timestamp": timestamp(),
            "headers": action.endpoint.headers,
        }
        if status is LegStatus.FAILED:
            fields["detail"] = leg.detail
        ncco = await self.ctx.webhooks.event(
            action.event_url or self.events_url,
            fields,
            method=action.event_method,
            log=self.record.exchanges,
        )
        if ncco is not None:
            kinds = ", ".join(type(a).__name__.lower() for a in ncco)
            self.ctx.say(f"{status} answered with an NCCO: {kinds or 'empty'}")
        return ncco

    async def _event(self, status: str, extra: dict[str, Any] | None = None) -> None:
        fields = self._call_fields() | {
            "status": status,
            "direction": "inbound",
            "timestamp": timestamp(),
        }
        await self.ctx.webhooks.event(
            self.events_url, fields | (extra or {}), log=self.record.exchanges
        )

    def _call_fields(self) -> dict[str, str]:
        return {
            "to": self.options.to,
            "from": self.options.caller,
            "uuid": self.record.uuid,
            "conversation_uuid": self.record.conversation_uuid,
        }

    def _completed_fields(self) -> dict[str, Any]:
        duration = self.record.ended_at - self.record.started_at
        end = datetime.now(UTC)
        start = datetime.fromtimestamp(end.timestamp() - duration, UTC)
        return {
            "start_time": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "end_time": end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": str(round(duration)),
            "rate": "0.00000000",
            "price": "0.00000000",
            "network": "simulator",
        }

    def _authorization(self, action: Connect) -> str | None:
        auth = action.endpoint.authorization
        if auth is None:
            return None
        if auth.type == "custom":
            return auth.value
        if self.ctx.signer is None:
            raise LegError("authorization type 'vonage' needs the signature secret")
        return self.ctx.signer.authorization(b"")


def describe_close(connection: AudioConnection) -> str:
    """How the server ended the socket, in words."""
    if connection.stalled:
        return "the server stopped reading: socket aborted"
    code = connection.close_code
    if code is None or code == CloseCode.ABNORMAL_CLOSURE:  # no close frame
        return "socket lost without a close frame"
    meaning = CLOSE_CODE_EXPLANATIONS.get(code, "unknown")
    reason = connection.close_reason
    return f"socket closed by the server: {code} ({meaning})" + (f" {reason}" if reason else "")
