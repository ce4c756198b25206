"""The simulator's side: one call run the way Vonage runs it, its call flow and its NCCO.

docs/vonage-protocol.md §1-§5: fetch the NCCO from the answer URL, post the call's
events as notifications, run the NCCO — ``talk`` speaks for as long as its text
takes (unless ``bargeIn``), ``connect`` opens a WebSocket leg with its own events
and streams the caller's audio for ``seconds`` (``connect.py``) — and under
``eventType: synchronous``, when the socket closes under the live call or cannot
be opened, run the NCCO that comes back instead of the rest: a new ``connect``
reconnects, a ``talk`` apologises. ``wait``, ``notify`` and ``input`` run in
``actions.py``. The caller hangs up when their audio has been sent and its echo
has come back; :meth:`Call.press` is their keypad, for any front end.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from simulator.errors import NccoError, SimulatorError
from simulator.vonage.actions import ActionRunner
from simulator.vonage.connect import Connector
from simulator.vonage.context import CallContext, CallState
from simulator.vonage.events import CALLER_NETWORK, DisconnectedBy, error_event
from simulator.vonage.ncco import Action, Connect, Talk
from simulator.vonage.records import DTMF_DIGITS, CallOptions, CallRecord
from simulator.vonage.speech import talk_seconds
from simulator.vonage.stream import FRAME_SECONDS, CallAudio

MAX_LEGS = 20  # a guard against an application that reconnects forever


class Call(CallState):
    """Runs one call; :meth:`run` never raises a :exc:`SimulatorError`."""

    def __init__(
        self, options: CallOptions, context: CallContext, audio: CallAudio | None = None
    ) -> None:
        """``audio``: a live caller's (frontends/phone/live.py) instead of the planned signal's."""
        super().__init__(options, context, audio)
        self.connector = Connector(self)
        self.actions = ActionRunner(self)

    def press(self, digits: str) -> bool:
        """The caller presses ``digits`` now, as on a phone's keypad, at any time.

        Each key goes to the ``input`` action collecting keys, if one runs; else to
        the open socket as ``websocket:dtmf`` (docs/vonage-protocol.md §3); else it
        is not heard. True when every key was heard; ValueError for a key that is
        not 0-9, * or #.
        """
        if set(digits) - DTMF_DIGITS:
            raise ValueError(f"keys are 0-9, * and #, not {digits!r}")
        audio, heard = self.record.audio, True
        for digit in digits:
            if audio is not None:
                heard = audio.press(digit) and heard
            elif self.keys is not None:
                self.keys(digit)
            else:
                heard = False
        return heard

    async def run(self) -> CallRecord:
        """Place the call, run it to the end, post ``completed``."""
        record = self.record
        await self.resume_setup()
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
            await self._wind_up()
        record.ended_at = time.monotonic()
        await self._post_completed()
        return record

    async def _wind_up(self) -> None:
        """Whatever way the call ended: free its slot, its pacing, its REST side."""
        self.set_up()
        if self.record.audio is not None and self.finished is not None:
            self.ctx.pacer.remove(self.record.audio)
        self.api.over = True
        if self.ctx.api_link is not None:
            await self.ctx.api_link.unregister(self.record.uuid)

    async def _post_completed(self) -> None:
        """Post ``completed`` for an answered call; wait for every event to be sent."""
        if self.answered:
            by = DisconnectedBy.USER if self.hung_up else DisconnectedBy.PLATFORM
            completed = self.caller_leg.completed(by, CALLER_NETWORK)
            self.notifier.post(self.events_url, completed, method=self.event_method)
        try:
            await self.notifier.flush()
        except BaseException:
            self.notifier.cancel()
            raise
        self.record.events_failed.extend(self.notifier.failures)

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
        method = self.event_method
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
            if not isinstance(action, Connect):
                hung_up, replacement = await self.actions.run(action)
            elif len(self.record.legs) >= MAX_LEGS:
                raise SimulatorError(f"gave up after {MAX_LEGS} socket legs: {self.problem}")
            else:
                hung_up, replacement = await self.connector.run(action)
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
        self.set_up()
        await asyncio.sleep(seconds)
        if holding:
            await self.resume_setup()

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
