"""The ``connect`` action: one WebSocket leg of a call, its events, and how it ended.

docs/vonage-protocol.md §2-§4: the leg posts its own ``started``, ``ringing`` and
``answered`` to the connect's ``eventUrl``, streams the caller's audio until the
caller hangs up, the server closes the socket, or the application ends the leg
through REST (§8). Under ``eventType: synchronous`` a leg that closes under the
live call (``disconnected``) or cannot be opened (``failed``, ``unanswered``)
posts that and waits for the answer: the NCCO that replaces the rest of the call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.frames import CLOSE_CODE_EXPLANATIONS, CloseCode

from simulator.errors import LegError, SimulatorError
from simulator.vonage.actions import post_for_ncco
from simulator.vonage.call_api import ApiEnd
from simulator.vonage.context import CallState
from simulator.vonage.events import Direction, DisconnectedBy, Leg, dashed_uuid
from simulator.vonage.leg import AudioConnection, open_leg, serve_text
from simulator.vonage.ncco import Action, Connect
from simulator.vonage.records import LegEnd, LegRecord
from simulator.vonage.stream import FRAME_SECONDS, CallAudio

DRAIN_MIN_SECONDS = 1.0


def dtmf_schedule(digits: str, frames: int) -> list[tuple[int, str]]:
    """Key presses spread evenly through the call: (frame number, digit)."""
    return [(frames * (i + 1) // (len(digits) + 1), d) for i, d in enumerate(digits)]


class Connector:
    """Runs the ``connect`` actions of one call, one socket leg each."""

    def __init__(self, call: CallState) -> None:
        self.call = call

    async def run(self, action: Connect) -> tuple[bool, list[Action] | None]:
        """Run one leg: (the caller hung up, the NCCO that replaces the rest, if any)."""
        call, endpoint = self.call, action.endpoint
        leg = LegRecord(len(call.record.legs) + 1, endpoint.uri, endpoint.headers.get("attempt"))
        call.record.legs.append(leg)
        socket_leg = Leg(
            dashed_uuid(),
            call.record.conversation_uuid,
            action.from_number or call.options.to,
            endpoint.uri,
            Direction.OUTBOUND,
            headers=endpoint.headers,
        )
        for status in ("started", "ringing"):
            self._leg_notify(action, leg, socket_leg.event(status))
        audio = self._audio_for(endpoint.rate)
        leg.first_frame = leg.end_frame = audio.next
        call.ctx.say(f"connect: {endpoint.uri} (leg {leg.number}, {endpoint.content_type})")
        try:
            connection = await open_leg(
                endpoint,
                authorization=self._authorization(action),
                ssl_context=call.ctx.webhooks.ssl_context,
                open_timeout=action.timeout,
                lenient_frames=call.options.lenient_frames,
            )
        except LegError as exc:
            leg.detail = call.problem = str(exc)
            call.ctx.say(f"{exc.status} ({exc.detail}): {exc}")
            if not action.synchronous:
                return False, None  # §4: failed/unanswered come only under synchronous
            event = socket_leg.event(exc.status, detail=exc.detail)
            return False, await self._leg_event(action, leg, event)
        leg.opened_at = time.monotonic()
        self._leg_notify(action, leg, socket_leg.answered())
        return await self._run_open(action, leg, socket_leg, connection, audio)

    async def _run_open(
        self,
        action: Connect,
        leg: LegRecord,
        socket_leg: Leg,
        connection: AudioConnection,
        audio: CallAudio,
    ) -> tuple[bool, list[Action] | None]:
        """Stream on the open leg; how it ended decides what the call does next."""
        call = self.call
        call.api.live = True
        try:
            hung_up = await self._stream(connection, audio, leg)
        finally:
            call.api.live = False
            leg.frame_size, leg.wrong_size = connection.frame_size, connection.wrong_size
            leg.first_wrong_size = connection.first_wrong_size
        leg.ended_at = time.monotonic()
        if isinstance(hung_up, ApiEnd):
            self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.PLATFORM, None))
            return False, self._api_ended(leg, connection, hung_up)
        if hung_up:
            leg.end = LegEnd.HUNG_UP
            self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.PLATFORM, None))
            return True, None
        leg.end, leg.close_code = LegEnd.CLOSED, connection.close_code
        leg.detail = call.problem = describe_close(connection)
        call.ctx.say(f"disconnected: {leg.detail}")
        replacement = None
        if action.synchronous:
            replacement = await self._leg_event(action, leg, socket_leg.event("disconnected"))
        self._leg_notify(action, leg, socket_leg.completed(DisconnectedBy.USER, None))
        return False, replacement

    def _api_ended(self, leg: LegRecord, connection: AudioConnection, end: ApiEnd) -> list[Action]:
        """A REST hangup (nothing more runs) or transfer (its NCCO runs next), §8."""
        call = self.call
        leg.end, leg.close_code = LegEnd.ENDED_BY_API, connection.close_code
        leg.detail = f"the application's REST {end.action}"
        call.record.ended_by = f"application: {end.action}"
        call.ctx.say(f"{end.action} through the REST API: socket closed by Vonage")
        if end.action == "hangup":
            return []
        # Vonage posts a transfer event when a call moves to a new NCCO.
        call.notifier.post(
            call.events_url, call.caller_leg.event("transfer"), method=call.event_method
        )
        call.ctx.say(f"transfer: {len(end.ncco)} NCCO actions from the REST API")
        call.api.next_leg()
        return list(end.ncco)

    def _leg_notify(self, action: Connect, leg: LegRecord, payload: dict[str, Any]) -> None:
        """A notification about a socket leg, to the connect's eventUrl (§2)."""
        url = action.event_url or self.call.events_url
        self.call.notifier.post(url, payload, method=action.event_method, leg=leg.number)

    def _audio_for(self, rate: int) -> CallAudio:
        call = self.call
        signal = call.ctx.signals.get(rate, call.options.variant)
        audio = call.record.audio
        if audio is None:
            schedule = dtmf_schedule(call.options.dtmf, len(signal.frames))
            audio = CallAudio(signal, dtmf=schedule, keep=call.options.keep_audio)
            call.record.audio = audio
        elif audio.rate != rate:
            audio.use_signal(signal)
        return audio

    async def _stream(
        self, connection: AudioConnection, audio: CallAudio, leg: LegRecord
    ) -> bool | ApiEnd:
        """Stream until the caller hangs up (True), the server closes the socket (False),
        or the application's REST hangup or transfer ends the leg (its ApiEnd)."""
        call = self.call
        connection.audio_sink = audio.on_audio
        playout = audio.playout
        playout.reply = connection.send_text_now
        playout.drop_notify = call.options.drop_notify
        connection.control_sink = lambda text: playout.control(time.monotonic(), text)
        audio.sink = connection
        if call.finished is None:
            call.finished = call.ctx.pacer.add(audio)
            call.set_up()
        reader = asyncio.create_task(serve_text(connection, audio.on_audio))
        try:
            ended = call.api.ended
            if ended is None:  # pragma: no cover - CallApi.start runs first
                raise SimulatorError("the call's REST side was not started")
            waiters: set[asyncio.Future[Any]] = {call.finished, reader, ended}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if ended.done():  # first: an end asked for before the socket closed is that end
                return await self._end_leg(connection, audio, leg, reader, ended.result())
            hung_up = call.finished.done()
            if hung_up and (failure := call.finished.exception()) is not None:
                raise SimulatorError(f"sending audio failed: {failure!r}") from failure
            if hung_up:
                await self._drain(audio, leg, reader)
            audio.sink = None
            leg.end_frame = audio.next
            await connection.close()
            call.record.text_messages += await reader
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
        self.call.record.api_end_frames.append(audio.next)
        if end.action == "hangup":
            self.call.ctx.pacer.remove(audio)
        await connection.close()
        self.call.record.text_messages += await reader
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
        """Post a synchronous event about the leg (§4); the NCCO that came back, if any."""
        call = self.call
        return await post_for_ncco(
            call,
            action.event_url or call.events_url,
            payload,
            method=action.event_method,
            kind=str(payload["status"]),
            leg=leg.number,
        )

    def _authorization(self, action: Connect) -> str | None:
        auth = action.endpoint.authorization
        if auth is None:
            return None
        if auth.type == "custom":
            return auth.value
        if self.call.ctx.signer is None:
            raise LegError("authorization type 'vonage' needs the signature secret")
        return self.call.ctx.signer.authorization(b"")


def describe_close(connection: AudioConnection) -> str:
    """How the server ended the socket, in words."""
    if connection.stalled:
        return "the server stopped reading: socket aborted"
    if connection.refused is not None:
        return f"socket closed by Vonage with 1007 (invalid payload): {connection.refused}"
    code = connection.close_code
    if code is None or code == CloseCode.ABNORMAL_CLOSURE:  # no close frame
        return "socket lost without a close frame"
    meaning = CLOSE_CODE_EXPLANATIONS.get(code, "unknown")
    reason = connection.close_reason
    return f"socket closed by the server: {code} ({meaning})" + (f" {reason}" if reason else "")
