"""The NCCO actions that hold the call between sockets: ``wait``, ``notify`` and ``input``.

docs/vonage-protocol.md, "What the simulator models": ``wait`` holds the call for
its ``timeout``; ``notify`` posts its ``payload`` to its ``eventUrl`` and an NCCO
in the answer replaces the rest; ``input`` of DTMF collects the caller's keys
(:class:`DigitCollector`: ``timeOut`` after the last action, ``maxDigits``,
``submitOnHash``), posts Vonage's input event and runs the NCCO that comes back.
Each gives way when the caller hangs up (their audio ran out) or the application
ends or transfers the call through REST (§8).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from simulator.errors import NccoError, WebhookError
from simulator.vonage.call_api import ApiEnd
from simulator.vonage.context import CallState
from simulator.vonage.events import error_event, timestamp
from simulator.vonage.ncco import Action, Input, Notify, Wait

#: What a held action came to: the caller hung up (True), or the NCCO that runs next
#: instead of the rest (None: the next action runs).
Step = tuple[bool, list[Action] | None]
HASH = "#"


class DigitCollector:
    """One ``input``'s keys, gathered as Vonage gathers them (NCCO reference, input).

    The result goes out ``timeout`` seconds after the last action (the start, or
    the last key: ``timed_out`` true), at ``max_digits`` keys, or at ``#`` under
    ``submit_on_hash`` (the ``#`` itself not among the digits: assumed).
    """

    def __init__(self, action: Input) -> None:
        self.action = action
        self.digits = ""
        self.timed_out = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._restart()

    def press(self, digit: str) -> None:
        """One key: gathered, or the one that submits."""
        if self.done.done():
            return
        if digit == HASH and self.action.submit_on_hash:
            self._finish(timed_out=False)
            return
        self.digits += digit
        if len(self.digits) >= self.action.max_digits:
            self._finish(timed_out=False)
        else:
            self._restart()

    def close(self) -> None:
        """The input is over, whatever ended it."""
        if self._timer is not None:
            self._timer.cancel()

    def _restart(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.action.timeout, self._finish, True)

    def _finish(self, timed_out: bool) -> None:
        self.close()
        self.timed_out = timed_out
        if not self.done.done():
            self.done.set_result(None)


def input_event(call: CallState, digits: str, timed_out: bool) -> dict[str, Any]:
    """What Vonage posts when an input ends (webhook reference, input; DTMF only)."""
    leg = call.caller_leg
    fields: dict[str, Any] = {
        "speech": {"results": []},
        "dtmf": {"digits": digits, "timed_out": timed_out},
        "from": leg.from_,
        "to": leg.to,
        "uuid": leg.uuid,
        "conversation_uuid": leg.conversation_uuid,
        "timestamp": timestamp(),
    }
    if leg.from_ is None:
        del fields["from"]
    return fields


class ActionRunner:
    """Runs one call's ``wait``, ``notify`` and ``input`` actions."""

    def __init__(self, call: CallState) -> None:
        self.call = call

    async def run(self, action: Wait | Notify | Input) -> Step:
        """Run one action: whether the caller hung up, and what runs next."""
        if isinstance(action, Wait):
            return await self._wait(action)
        if isinstance(action, Notify):
            return await self._notify(action)
        return await self._input(action)

    async def _wait(self, action: Wait) -> Step:
        self.call.ctx.say(f"wait: {action.timeout:g} s")
        ended = await self._hold(asyncio.sleep(action.timeout))
        self.call.record.actions.append(f"wait {action.timeout:g} s")
        return self._after(ended)

    async def _notify(self, action: Notify) -> Step:
        call = self.call
        call.ctx.say(f"notify: {action.event_url}")
        call.record.actions.append("notify")
        ncco = await post_for_ncco(
            call, action.event_url, action.payload, method=action.event_method, kind="notify"
        )
        return False, ncco

    async def _input(self, action: Input) -> Step:
        call = self.call
        collector = DigitCollector(action)
        call.ctx.say(
            f"input: up to {action.max_digits} digits, {action.timeout:g} s after the last"
            + (", # submits" if action.submit_on_hash else "")
        )
        self._listen(collector.press)
        try:
            ended = await self._hold(collector.done)
        finally:
            self._listen(None)
            collector.close()
        if ended is not None:
            return self._after(ended)
        digits, timed_out = collector.digits, collector.timed_out
        call.record.actions.append(f"input {digits!r}" + (" (timed out)" if timed_out else ""))
        call.ctx.say(f"input: {digits!r}" + (" (timed out)" if timed_out else ""))
        url = action.event_url or call.events_url
        event = input_event(call, digits, timed_out)
        ncco = await post_for_ncco(call, url, event, method=action.event_method, kind="input")
        return False, ncco

    def _listen(self, keys: Callable[[str], None] | None) -> None:
        """Where the caller's keys go: to the input while it collects (§3 otherwise)."""
        self.call.keys = keys
        if self.call.record.audio is not None:
            self.call.record.audio.keys = keys

    async def _hold(self, until: Awaitable[Any]) -> ApiEnd | bool | None:
        """Hold the call until ``until``: None, or what ended the call first.

        True: the caller hung up (their audio ran out); an ApiEnd: the application's
        REST hangup or transfer. Listening is no set-up work: the slot is freed.
        """
        call = self.call
        holding = call.in_setup
        call.set_up()
        waited = asyncio.ensure_future(until)
        others: set[asyncio.Future[Any]] = {f for f in (call.finished, call.api.ended) if f}
        try:
            await asyncio.wait({waited, *others}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waited.cancel()
        if holding:
            await call.resume_setup()
        if call.api.ended is not None and call.api.ended.done():
            return call.api.ended.result()
        if call.finished is not None and call.finished.done():
            return True
        return None

    def _after(self, ended: ApiEnd | bool | None) -> Step:
        """The step a held action ends with."""
        call = self.call
        if ended is None:
            return False, None
        if not isinstance(ended, ApiEnd):
            call.ctx.say("the caller hung up")
            return True, None
        call.record.ended_by = f"application: {ended.action}"
        call.ctx.say(f"{ended.action} through the REST API")
        if ended.action == "hangup":
            return False, []
        call.notifier.post(
            call.events_url, call.caller_leg.event("transfer"), method=call.event_method
        )
        call.api.next_leg()
        return False, list(ended.ncco)


async def post_for_ncco(
    call: CallState,
    url: str,
    payload: dict[str, Any],
    *,
    method: str,
    kind: str,
    leg: int | None = None,
) -> list[Action] | None:
    """Post an event whose answer may replace the rest of the NCCO; that NCCO, if any.

    The call flow waits for this one: its answer decides what runs next. When every
    attempt fails, or the answer is not an NCCO (an error event is then posted),
    the call flow goes on with the next action, as on Vonage.
    """
    whose = f" (socket leg {leg})" if leg is not None else ""
    try:
        ncco = await call.ctx.webhooks.expect_ncco(
            url,
            payload,
            method=method,
            fallback_url=call.options.fallback_url,
            leg=leg,
            kind=kind,
            log=call.record.exchanges,
        )
    except WebhookError as exc:
        _event_failed(call, f"event '{kind}'{whose} failed: {exc}")
        return None
    except NccoError as exc:
        _event_failed(call, f"event '{kind}'{whose} answered: {exc}")
        error = error_event(str(exc), call.record.conversation_uuid)
        call.notifier.post(call.events_url, error, kind="error")
        return None
    if ncco is not None:
        kinds = ", ".join(type(a).__name__.lower() for a in ncco)
        call.ctx.say(f"{kind} answered with an NCCO: {kinds or 'empty'}")
    return ncco


def _event_failed(call: CallState, line: str) -> None:
    call.record.events_failed.append(line)
    call.ctx.say(f"{line} (the call flow goes on, as on Vonage)")
