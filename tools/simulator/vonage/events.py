"""The simulator's side: the events Vonage posts about a call's legs, sent as Vonage sends them.

docs/vonage-protocol.md §5: every event carries ``from``, ``to``, ``uuid``,
``conversation_uuid``, ``status``, ``direction``, ``timestamp``; ``answered`` adds
``start_time``, ``rate`` and ``network`` (null until known), ``completed`` adds the
call's times, cost and how it ended. The caller's (inbound) leg and each socket leg
(outbound, its own uuid, the endpoint's ``headers``) get their own events.

Ordinary events are notifications (§6): :class:`Notifier` posts one call's in the
order they happened, in one task that exists only while some are waiting, so a
slow or failing events webhook never delays the call; each failure is reported.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from simulator.vonage.webhook import Exchange, WebhookClient

# Assumed (the webhook reference shows the fields, not these values): the caller's
# network as a mobile network code of the UK range the simulated numbers are in, the
# SIP code of a normal hang-up, and the price of a call nobody pays for.
CALLER_NETWORK = "23410"
NORMAL_SIP_CODE = 200
NO_CHARGE = "0.00000000"
# Assumed: how long one notification waits for the one before it to be answered.
ORDER_PATIENCE = 1.0


class Direction(StrEnum):
    """Which way a leg goes: the caller's leg comes in, a socket leg goes out."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DisconnectedBy(StrEnum):
    """``completed``'s ``disconnected_by``: the caller hung up, or the call flow ended it."""

    USER = "user"
    PLATFORM = "platform"


def timestamp(at: datetime | None = None) -> str:
    """A time as Vonage writes it in events: ISO 8601, UTC, milliseconds."""
    moment = at or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def phone_leg_uuid() -> str:
    """An inbound phone leg's uuid: 32 hex digits without dashes (§1)."""
    return uuid.uuid4().hex


def dashed_uuid() -> str:
    """An app or outbound leg's uuid: the dashed form (§1)."""
    return str(uuid.uuid4())


@dataclass
class Leg:
    """One call leg as its events describe it."""

    uuid: str
    conversation_uuid: str
    from_: str | None
    to: str
    direction: Direction
    headers: dict[str, Any] = field(default_factory=dict)
    answered_at: datetime | None = None

    def event(self, status: str, **extra: Any) -> dict[str, Any]:
        """The fields of one event about this leg."""
        fields: dict[str, Any] = {
            "from": self.from_,
            "to": self.to,
            "uuid": self.uuid,
            "conversation_uuid": self.conversation_uuid,
            "status": status,
            "direction": self.direction,
            "timestamp": timestamp(),
            "headers": self.headers,
        }
        if self.from_ is None:
            del fields["from"]
        return fields | extra

    def answered(self) -> dict[str, Any]:
        """``answered``: start, rate and network are not known yet (null)."""
        self.answered_at = datetime.now(UTC)
        return self.event("answered", start_time=None, rate=None, network=None)

    def completed(self, disconnected_by: DisconnectedBy, network: str | None) -> dict[str, Any]:
        """``completed``: when the leg was answered and ended, how long, at what cost."""
        end = datetime.now(UTC)
        start = self.answered_at or end
        return self.event(
            "completed",
            start_time=timestamp(start),
            end_time=timestamp(end),
            duration=str(round((end - start).total_seconds())),
            rate=NO_CHARGE,
            price=NO_CHARGE,
            network=network,
            disconnected_by=disconnected_by,
            sip_code=NORMAL_SIP_CODE,
        )


def error_event(reason: str, conversation_uuid: str) -> dict[str, Any]:
    """What Vonage posts to the event URL about an NCCO it cannot run (§5, errors)."""
    return {"reason": reason, "conversation_uuid": conversation_uuid, "timestamp": timestamp()}


@dataclass
class _Pending:
    url: str
    payload: dict[str, Any]
    method: str
    kind: str | None
    leg: int | None


class Notifier:
    """Posts one call's notifications in order, never holding up the call flow.

    Each waits for the one before it to be answered, for at most
    :data:`ORDER_PATIENCE`: a slow events webhook then gets them in parallel, so a
    call's last events are not held back one timeout each.
    """

    def __init__(
        self,
        webhooks: WebhookClient,
        log: list[Exchange],
        say: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.webhooks = webhooks
        self.log = log
        self.say = say
        self.failures: list[str] = []
        self._pending: deque[_Pending] = deque()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def post(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        method: str = "POST",
        kind: str | None = None,
        leg: int | None = None,
    ) -> None:
        """Queue one notification; it goes out after those queued before it."""
        self._pending.append(_Pending(url, payload, method, kind, leg))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def flush(self) -> None:
        """Wait until every queued notification has been sent or has failed."""
        while True:
            if self._task is not None and not self._task.done():
                await asyncio.shield(self._task)
            elif self._sending:
                await asyncio.wait(set(self._sending))
            else:
                return

    def cancel(self) -> None:
        """Drop what is still queued or in flight (the call is being torn down)."""
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
        for task in self._sending:
            task.cancel()

    async def _drain(self) -> None:
        while self._pending:
            sending = asyncio.create_task(self._send(self._pending.popleft()))
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
            await asyncio.wait({sending}, timeout=ORDER_PATIENCE)

    async def _send(self, item: _Pending) -> None:
        exchange = await self.webhooks.notify(
            item.url,
            item.payload,
            method=item.method,
            kind=item.kind,
            leg=item.leg,
            log=self.log,
        )
        if exchange.error is not None:
            self._failed(item, exchange.error)

    def _failed(self, item: _Pending, error: str) -> None:
        kind = item.kind or str(item.payload.get("status"))
        whose = f" (socket leg {item.leg})" if item.leg is not None else ""
        line = f"event '{kind}'{whose} to {item.url} failed: {error}"
        self.failures.append(line)
        self.say(f"{line} (the call goes on, as on Vonage)")
