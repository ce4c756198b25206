"""What a call runs with: what the calls of one process share, and what one call's parts share.

:class:`CallContext` is built once per process (the webhook client, the pacer, the
caller's signals); :class:`CallState` is one call's: its options, its record, its
caller leg and notifier, and its side of the REST API. The call flow (``call.py``)
and the socket legs it opens (``connect.py``) both work on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.audio import Pcm, Signal, build_signal
from simulator.rest_api.link import ApiLink
from simulator.vonage.call_api import CallApi
from simulator.vonage.events import Direction, Leg, Notifier, dashed_uuid, phone_leg_uuid
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions, CallRecord
from simulator.vonage.signing import Signer
from simulator.vonage.stream import CallAudio
from simulator.vonage.webhook import WebhookClient

# Calls being set up at once per process (answer, events, first upgrade). Many at once
# would delay the frames of calls already streaming; this only staggers their starts.
# Reconnects are not held back: their gap is what the run measures.
SETUP_SLOTS = 8
VARIANTS = 8


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
    #: The link to the Voice REST API (rest_api/server.py), when one serves these calls.
    api_link: ApiLink | None = None
    setup_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SETUP_SLOTS))


class CallState:
    """One call's options, record and caller leg, shared by its flow and its socket legs."""

    def __init__(
        self, options: CallOptions, context: CallContext, audio: CallAudio | None = None
    ) -> None:
        """``audio``: a live caller's (frontends/phone/live.py) instead of the planned signal's."""
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
        #: Done when the pacer has sent the caller's last frame (the caller hangs up).
        self.finished: asyncio.Future[None] | None = None
        self.answered = False
        self.hung_up = False
        #: Why the last socket leg failed or closed, for the call's error.
        self.problem = ""
        self.in_setup = False
        self.api = self.record.api = CallApi(self.record.uuid)
        #: Takes the caller's key presses while an ``input`` action collects them.
        self.keys: Callable[[str], None] | None = None

    @property
    def events_url(self) -> str:
        """The application's event URL."""
        return self.options.event_url or f"{self.options.base_url.rstrip('/')}/webhooks/events"

    @property
    def event_method(self) -> str:
        """The application's event method: the answer's, POST unless --get."""
        return "POST" if self.options.post else "GET"

    def set_up(self) -> None:
        """Set-up is over (audio flows, or the call ended): free the slot."""
        if self.in_setup:
            self.in_setup = False
            self.ctx.setup_slots.release()

    async def resume_setup(self) -> None:
        """Take a set-up slot again (after a wait that was no set-up work)."""
        await self.ctx.setup_slots.acquire()
        self.in_setup = True
