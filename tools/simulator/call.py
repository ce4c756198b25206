"""One simulated call, run the way Vonage runs it.

docs/vonage-protocol.md §1-§5: fetch the NCCO from the answer URL, post the call's
events as notifications, run the NCCO — ``talk`` speaks for as long as its text
takes (unless ``bargeIn``), ``connect`` opens a WebSocket leg with its own events
and streams the caller's audio for ``seconds`` — and under ``eventType:
synchronous``, when the socket closes under the live call (``disconnected``) or
cannot be opened (``failed``, ``unanswered``), post that to the connect's
``eventUrl`` and run the NCCO that comes back instead of the rest: a new
``connect`` reconnects, a ``talk`` apologises. The caller hangs up when their audio
has been sent and its echo has come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from websockets.frames import CLOSE_CODE_EXPLANATIONS, CloseCode

from simulator.audio import Pcm, Signal, build_signal
from simulator.call_api import ApiEnd, CallApi
from simulator.errors import LegError, NccoError, SimulatorError, WebhookError
from simulator.events import (
    CALLER_NETWORK,
    Direction,
    DisconnectedBy,
    Leg,
    Notifier,
    dashed_uuid,
    error_event,
    phone_leg_uuid,
)
from simulator.leg import AudioConnection, open_leg, serve_text
from simulator.ncco import Action, Connect, Talk
from simulator.pacer import Pacer
from simulator.rest_link import ApiLink
from simulator.signing import Signer
from simulator.speech import talk_seconds
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
# The answer request's region_url: "the regional API endpoint to control the call"
# (docs/vonage-protocol.md §8). Which region a call lands in is Vonage's choice.
DEFAULT_REGION_URL = "https://api-eu-1.vonage.com"


@dataclass(frozen=True)
class CallOptions:
    """What one call does."""

    base_url: str
    seconds: float = 10.0
    # POST, as the README sets the application up; GET only where a test asks for it.
    post: bool = True
    to: str = CALLED_NUMBER
    caller: str = CALLER_NUMBER
    dtmf: str = ""
    keep_audio: bool = False
    variant: int = 0  # which of the SignalCache's signals this call sends
    #: ``talk`` takes no time (fast tests); by default it speaks at ``speech.py``'s rate.
    instant_talk: bool = False
    #: The application's ``fallback_answer_url`` (docs/vonage-protocol.md §1, §6).
    fallback_url: str | None = None
    region_url: str = DEFAULT_REGION_URL
    #: A Client SDK user placing the call from an app, instead of a phone (§1).
    from_user: str | None = None
    custom_data: dict[str, Any] | None = None
    #: An outbound call placed through the REST API (dialer.py): its answer_url and
    #: event_url as the application gave them; ``to`` is the callee, ``caller`` ours.
    answer_url: str | None = None
    event_url: str | None = None
    outbound: bool = False


class LegEnd(StrEnum):
    """How a WebSocket leg ended."""

    FAILED = "failed"  # it never opened
    CLOSED = "closed"  # the server closed it under the live call
    HUNG_UP = "hung up"  # the caller hung up: the call is over
    ENDED_BY_API = "ended by the application"  # a REST hangup or transfer (§8)


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
    talk_seconds: float = 0.0  # how long the call flow waited on talk
    #: (start, end, text) of each talk as the caller heard it (monotonic times).
    talk_spans: list[tuple[float, float, str]] = field(default_factory=list)
    text_messages: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None
    #: Events whose delivery failed; the call went on without them, as on Vonage.
    events_failed: list[str] = field(default_factory=list)
    #: The REST requests about this call and what they did (call_api.py).
    api: CallApi | None = None
    #: Who ended the call: "caller", "application: hangup", "application: transfer".
    ended_by: str = "caller"
    #: The frames at which a REST hangup or transfer ended a socket leg.
    api_end_frames: list[int] = field(default_factory=list)


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
    #: The link to the Voice REST API (rest_api.py), when one serves these calls.
    api_link: ApiLink | None = None
    setup_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SETUP_SLOTS))


def dtmf_schedule(digits: str, frames: int) -> list[tuple[int, str]]:
    """Key presses spread evenly through the call: (frame number, digit)."""
    return [(frames * (i + 1) // (len(digits) + 1), d) for i, d in enumerate(digits)]


class Call:
    """Runs one call; :meth:`run` never raises a :exc:`SimulatorError`."""

    def __init__(
        self, options: CallOptions, context: CallContext, audio: CallAudio | None = None
    ) -> None:
        """``audio``: a live caller's (live.py) instead of the planned signal's."""
        self.options = options
        self.ctx = context
        app = options.from_user is not None
        # §1: an inbound phone leg's uuid has no dashes; app and outbound legs' have.
        call_uuid = dashed_uuid() if app or options.outbound else phone_leg_uuid()
        self.record = CallRecord(call_uuid, f"CON-{dashed_uuid()}", options.seconds, audio)
        self.caller_leg = Leg(
            call_uuid,
            self.record.conversation_uuid,
            None if app else options.caller,
            options.to,
            Direction.OUTBOUND if options.outbound else Direction.INBOUND,
        )
        self.notifier = Notifier(context.webhooks, self.record.exchanges, context.say)
        self.finished: asyncio.Future[None] | None = None
        self.answered = False
        self.hung_up = False
        self.problem = ""
        self.in_setup = False
        self.api = self.record.api = CallApi(self.record.uuid)

    @property
    def events_url(self) -> str:
        """The application's event URL."""
        return self.options.event_url or f"{self.options.base_url.rstrip('/')}/webhooks/events"

    async def run(self) -> CallRecord:
        """Place the call, run it to the end, post ``completed``."""
        record = self.record
        await self.ctx.setup_slots.acquire()
        self.in_setup = True
        record.started_at = time.monotonic()
        self.api.start()
        try:
            if self.ctx.api_link is not None:
                await self.ctx.api_link.register(record.uuid, self.api)
            await self._run()
        except SimulatorError as exc:
            record.error = str(exc)
            self.ctx.say(f"error: {exc}")
        except Exception as exc:  # a bug here must fail this call, not the run
            record.error = f"unexpected {type(exc).__name__}: {exc}"
        except BaseException:  # cancelled: nothing more is sent
            self.notifier.cancel()
            raise
        finally:
            self._set_up()
            if record.audio is not None and self.finished is not None:
                self.ctx.pacer.remove(record.audio)
            self.api.over = True
            if self.ctx.api_link is not None:
                await self.ctx.api_link.unregister(record.uuid)
        record.ended_at = time.monotonic()
        if self.answered:
            by = DisconnectedBy.USER if self.hung_up else DisconnectedBy.PLATFORM
            completed = self.caller_leg.completed(by, CALLER_NETWORK)
            self.notifier.post(self.events_url, completed, method=self._event_method)
        try:
            await self.notifier.flush()
        except BaseException:
            self.notifier.cancel()
            raise
        record.events_failed.extend(self.notifier.failures)
        return record

    @property
    def _event_method(self) -> str:
        """The application's event method: the answer's, POST unless --get."""
        return "POST" if self.options.post else "GET"

    def _set_up(self) -> None:
        """Set-up is over (audio flows, or the call ended): free the slot."""
        if self.in_setup:
            self.in_setup = False
            self.ctx.setup_slots.release()

    async def _run(self) -> None:
        answer_url = (
            self.options.answer_url or f"{self.options.base_url.rstrip('/')}/webhooks/answer"
        )
        try:
            ncco = await self.ctx.webhooks.answer(
                answer_url,
                self._answer_fields(),
                post=self.options.post,
                fallback_url=self.options.fallback_url,
                log=self.record.exchanges,
            )
        except NccoError as exc:
            # §1: an NCCO Vonage cannot parse is not retried; it posts an error event.
            self.notifier.post(
                self.events_url, error_event(str(exc), self.record.conversation_uuid), kind="error"
            )
            raise
        self.ctx.say(f"answer: {len(ncco)} NCCO actions from {answer_url}")
        method = self._event_method
        for status in ("started", "ringing"):
            self.notifier.post(self.events_url, self.caller_leg.event(status), method=method)
        self.notifier.post(self.events_url, self.caller_leg.answered(), method=method)
        self.answered = True
        await self._run_ncco(ncco)

    async def _run_ncco(self, ncco: list[Action]) -> None:
        actions = deque(ncco)
        while actions:
            action = actions.popleft()
            if isinstance(action, Talk):
                await self._talk(action)
                continue
            if len(self.record.legs) >= MAX_LEGS:
                raise SimulatorError(f"gave up after {MAX_LEGS} socket legs: {self.problem}")
            hung_up, replacement = await self._connect(action)
            if hung_up:
                self.hung_up = True
                return  # the caller hung up: the call is over
            if replacement is not None:
                actions = deque(replacement)
        self._ended_early()

    async def _talk(self, talk: Talk) -> None:
        """Speak: the call flow waits until the speech has played, unless bargeIn."""
        self.record.talks.append(talk.text)
        seconds = 0.0 if self.options.instant_talk else talk_seconds(talk.text, talk.loop or 1)
        note = " (bargeIn: the next action starts at once)" if talk.barge_in else ""
        self.ctx.say(f"talk: {talk.text} [{seconds:.1f} s]{note}")
        if seconds:
            now = time.monotonic()
            self.record.talk_spans.append((now, now + seconds, talk.text))
        if talk.barge_in or not seconds:
            return
        self.record.talk_seconds += seconds
        # Listening is no set-up work: other calls may set up meanwhile (SETUP_SLOTS).
        holding = self.in_setup
        self._set_up()
        await asyncio.sleep(seconds)
        if holding:
            await self.ctx.setup_slots.acquire()
            self.in_setup = True

    def _ended_early(self) -> None:
        if self.record.ended_by != "caller":
            return  # the application ended it on purpose, through REST (§8)
        audio = self.record.audio
        if audio is None or audio.next == 0:
            raise SimulatorError(self.problem or "the NCCO ended the call before any audio")
        spoken = audio.next * FRAME_SECONDS
        raise SimulatorError(
            f"the call ended after {spoken:.1f} s of {self.options.seconds:g} s: {self.problem}"
        )

    async def _connect(self, action: Connect) -> tuple[bool, list[Action] | None]:
        """Run one leg: (the caller hung up, the NCCO that replaces the rest, if any)."""
        endpoint = action.endpoint
        leg = LegRecord(len(self.record.legs) + 1, endpoint.uri, endpoint.headers.get("attempt"))
        self.record.legs.append(leg)
        socket_leg = Leg(
            dashed_uuid(),
            self.record.conversation_uuid,
            action.from_number or self.options.to,
            endpoint.uri,
            Direction.OUTBOUND,
            headers=endpoint.headers,
        )
        for status in ("started", "ringing"):
            self._leg_notify(action, leg, socket_leg.event(status))
        audio = self._audio_for(endpoint.rate)
        leg.first_frame = leg.end_frame = audio.next
        self.ctx.say(f"connect: {endpoint.uri} (leg {leg.number}, {endpoint.content_type})")
        try:
            connection = await open_leg(
                endpoint,
                authorization=self._authorization(action),
                ssl_context=self.ctx.webhooks.ssl_context,
                open_timeout=action.timeout,
            )
        except LegError as exc:
            leg.detail = self.problem = str(exc)
            self.ctx.say(f"{exc.status} ({exc.detail}): {exc}")
            if not action.synchronous:
                return False, None  # §4: failed/unanswered come only under synchronous
            event = socket_leg.event(exc.status, detail=exc.detail)
            return False, await self._leg_event(action, leg, event)
        leg.opened_at = time.monotonic()
        self._leg_notify(action, leg, socket_leg.answered())
        self.api.live = True
        try:
            hung_up = await self._stream(connection, audio, leg)
        finally:
            self.api.live = False
        leg.ended_at = time.monotonic()
        if isinstance(hung_up, ApiEnd):
            self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.PLATFORM, None))
            return False, self._api_ended(leg, connection, hung_up)
        if hung_up:
            leg.end = LegEnd.HUNG_UP
            self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.PLATFORM, None))
            return True, None
        leg.end, leg.close_code = LegEnd.CLOSED, connection.close_code
        leg.detail = self.problem = describe_close(connection)
        self.ctx.say(f"disconnected: {leg.detail}")
        replacement = None
        if action.synchronous:
            replacement = await self._leg_event(action, leg, socket_leg.event("disconnected"))
        self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.USER, None))
        return False, replacement

    def _api_ended(self, leg: LegRecord, connection: AudioConnection, end: ApiEnd) -> list[Action]:
        """A REST hangup (nothing more runs) or transfer (its NCCO runs next), §8."""
        leg.end, leg.close_code = LegEnd.ENDED_BY_API, connection.close_code
        leg.detail = f"the application's REST {end.action}"
        self.record.ended_by = f"application: {end.action}"
        self.ctx.say(f"{end.action} through the REST API: socket closed by Vonage")
        if end.action == "hangup":
            return []
        # Vonage posts a transfer event when a call moves to a new NCCO.
        self.notifier.post(
            self.events_url, self.caller_leg.event("transfer"), method=self._event_method
        )
        self.ctx.say(f"transfer: {len(end.ncco)} NCCO actions from the REST API")
        self.api.next_leg()
        return list(end.ncco)

    def _leg_notify(self, action: Connect, leg: LegRecord, payload: dict[str, Any]) -> None:
        """A notification about a socket leg, to the connect's eventUrl (§2)."""
        url = action.event_url or self.events_url
        self.notifier.post(url, payload, method=action.event_method, leg=leg.number)

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

    async def _stream(
        self, connection: AudioConnection, audio: CallAudio, leg: LegRecord
    ) -> bool | ApiEnd:
        """Stream until the caller hangs up (True), the server closes the socket (False),
        or the application's REST hangup or transfer ends the leg (its ApiEnd)."""
        connection.audio_sink = audio.on_audio
        playout = audio.playout
        playout.reply = connection.send_text_now
        connection.control_sink = lambda text: playout.control(time.monotonic(), text)
        audio.sink = connection
        if self.finished is None:
            self.finished = self.ctx.pacer.add(audio)
            self._set_up()
        reader = asyncio.create_task(serve_text(connection, audio.on_audio))
        try:
            ended = self.api.ended
            if ended is None:  # pragma: no cover - CallApi.start runs first
                raise SimulatorError("the call's REST side was not started")
            waiters: set[asyncio.Future[Any]] = {self.finished, reader, ended}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if ended.done():  # first: an end asked for before the socket closed is that end
                return await self._end_leg(connection, audio, leg, reader, ended.result())
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
            playout.close(time.monotonic())  # what Vonage still held is never heard
            reader.cancel()
        return hung_up

    async def _end_leg(
        self,
        connection: AudioConnection,
        audio: CallAudio,
        leg: LegRecord,
        reader: asyncio.Task[int],
        end: ApiEnd,
    ) -> ApiEnd:
        """Vonage closes the socket leg it was asked to end; a hangup ends the audio."""
        audio.sink = None
        leg.end_frame = audio.next
        self.record.api_end_frames.append(audio.next)
        if end.action == "hangup":
            self.ctx.pacer.remove(audio)
        await connection.close()
        self.record.text_messages += await reader
        return end

    async def _drain(self, audio: CallAudio, leg: LegRecord, reader: asyncio.Task[int]) -> None:
        """Listen for the echo of the last frames, and hear them out, before hanging up."""
        lag = 0.0
        if audio.last_matched >= 0:
            lag = audio.recv_at[audio.last_matched] - audio.sent_at[audio.last_matched]
        deadline = time.monotonic() + max(DRAIN_MIN_SECONDS, 2 * lag)
        pending = leg.first_frame
        while time.monotonic() < deadline and not reader.done():
            while pending < audio.n and (audio.recv_at[pending] or not audio.sent_at[pending]):
                pending += 1
            if pending >= audio.n:
                # Everything came back; what Vonage still buffers plays out first.
                rest = min(audio.playout.end, deadline) - time.monotonic()
                if rest > 0:
                    await asyncio.sleep(rest)
                return
            await asyncio.sleep(FRAME_SECONDS)

    async def _leg_event(
        self, action: Connect, leg: LegRecord, payload: dict[str, Any]
    ) -> list[Action] | None:
        """Post a synchronous event about the leg (§4); the NCCO that came back, if any.

        The call flow waits for this one: its answer decides what runs next. When
        every attempt fails, or the answer is not an NCCO, the call flow goes on.
        """
        status = payload["status"]
        url = action.event_url or self.events_url
        try:
            ncco = await self.ctx.webhooks.expect_ncco(
                url,
                payload,
                method=action.event_method,
                fallback_url=self.options.fallback_url,
                leg=leg.number,
                log=self.record.exchanges,
            )
        except WebhookError as exc:
            self._event_failed(f"event '{status}' (socket leg {leg.number}) failed: {exc}")
            return None
        except NccoError as exc:
            self._event_failed(f"event '{status}' (socket leg {leg.number}) answered: {exc}")
            self.notifier.post(
                self.events_url, error_event(str(exc), self.record.conversation_uuid), kind="error"
            )
            return None
        if ncco is not None:
            kinds = ", ".join(type(a).__name__.lower() for a in ncco)
            self.ctx.say(f"{status} answered with an NCCO: {kinds or 'empty'}")
        return ncco

    def _event_failed(self, line: str) -> None:
        self.record.events_failed.append(line)
        self.ctx.say(f"{line} (the call flow goes on, as on Vonage)")

    def _answer_fields(self) -> dict[str, Any]:
        """The answer request (§1, vonage-voice's AnswerWebhook)."""
        options = self.options
        fields: dict[str, Any] = {
            "to": options.to,
            "from": options.caller,
            "uuid": self.record.uuid,
            "conversation_uuid": self.record.conversation_uuid,
            "region_url": options.region_url,
            "endpoint_type": "phone",
        }
        if options.from_user is not None:
            del fields["from"]
            fields |= {"from_user": options.from_user, "endpoint_type": "app"}
            if options.custom_data is not None:
                fields["custom_data"] = options.custom_data
        return fields

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
