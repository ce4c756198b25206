"""The script played on a live call: each turn's action, then its expectation watched.

Between turns the caller waits for the previous reply to end: the line quiet for
the turn gap (default 1 s). A ``say`` with ``interrupt_after`` instead starts that
long after the previous reply became audible. Waits are on the ear (a queued
audible frame or a clear wakes them) and on the call's end; nothing here measures
— ``measure.py`` does, from the ear, once the call is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from simulator.frontends.converse.caller import ScriptedAudio, Utterance
from simulator.frontends.converse.measure import TurnLog, api_end, reply_run
from simulator.frontends.converse.script import MAX_SECONDS, Script, Turn
from simulator.vonage.records import CallRecord

DEFAULT_TURN_GAP = 1.0
#: Between two key presses of a ``dtmf`` turn: a quick typist (Vonage reports 260 ms a key).
DTMF_INTERVAL = 0.3
#: How often a wait looks at what only the call flow knows (a REST hangup or transfer).
POLL_SECONDS = 0.05
#: The longest the caller waits for the call's first audio.
CONNECT_WAIT = 30.0

MakeUtterance = Callable[[Turn, int], Utterance]


class ScriptRunner:
    """Plays one script on one call."""

    def __init__(
        self,
        script: Script,
        audio: ScriptedAudio,
        record: CallRecord,
        speak: MakeUtterance,
        turn_gap: float = DEFAULT_TURN_GAP,
    ) -> None:
        self.script = script
        self.audio = audio
        self.ear = audio.ear
        self.record = record
        self.speak = speak
        self.gap = turn_gap
        #: Set when the call is over, however it ended.
        self.over = asyncio.Event()

    def call_over(self) -> None:
        """The call flow returned: every wait ends."""
        self.over.set()
        self.ear.changed.set()

    async def run(self) -> list[TurnLog]:
        """Play every turn; the caller hangs up after the last reply ends."""
        logs = [TurnLog(turn.index) for turn in self.script.turns]
        await self._wait(self.audio.streaming.is_set, time.monotonic() + CONNECT_WAIT)
        since, within = time.monotonic(), self.script.turns[0].within
        for turn, log in zip(self.script.turns, logs, strict=True):
            if self.over.is_set():
                log.skipped = "the call had ended"
                continue
            await self._take_turn(turn, log, since, within)
            since, within = log.reference or time.monotonic(), turn.within
        await self._quiet(since)
        self.audio.hang_up()
        return logs

    async def _take_turn(self, turn: Turn, log: TurnLog, since: float, within: float) -> None:
        if turn.interrupt_after is None:
            await self._quiet(since)
        else:
            await self._interrupt_point(since, within, turn.interrupt_after)
        log.started = time.monotonic()
        if turn.action == "say":
            await self._say(turn, log)
        elif turn.action == "dtmf":
            await self._press(turn.digits, log)
        else:
            log.reference = log.started
        await self._watch(turn, log)

    async def _say(self, turn: Turn, log: TurnLog) -> None:
        words = self.speak(turn, self.audio.rate)
        self.audio.say(words)
        await self._wait(words.done.is_set, time.monotonic() + len(words.frames) * 0.02 + 5)
        log.onset, log.queued_at_onset = words.onset, words.queued_at_onset
        log.reference = words.last_loud or words.ended or time.monotonic()

    async def _press(self, digits: str, log: TurnLog) -> None:
        for i, digit in enumerate(digits):
            if i:
                await asyncio.sleep(DTMF_INTERVAL)
            self.audio.press(digit)
            log.reference = time.monotonic()

    async def _watch(self, turn: Turn, log: TurnLog) -> None:
        """Wait until the turn's expectation is settled, or its window is over."""
        reference = log.reference or time.monotonic()
        deadline = reference + turn.within
        if turn.expect in ("hangup", "transfer"):
            action = turn.expect
            await self._wait(lambda: api_end(self.record, action) is not None, deadline)
        elif turn.expect != "silence":
            await self._wait(lambda: self._replied(turn, log), deadline)
        else:
            await self._wait(lambda: False, deadline)
        if turn.action == "silence":
            await self._wait(lambda: False, log.started + turn.seconds if log.started else 0.0)

    def _replied(self, turn: Turn, log: TurnLog) -> bool:
        return reply_run(self.ear, turn, log, self.gap, float("inf")) is not None

    async def _interrupt_point(self, since: float, within: float, after: float) -> None:
        """Wait for the previous reply to become audible, then ``after`` seconds more."""
        first: list[int] = []

        def heard() -> bool:
            found = self.ear.first_loud(since)
            if found is not None:
                first.append(found)
            return found is not None

        await self._wait(heard, since + within)
        if first:
            await self._wait(lambda: False, self.ear.starts[first[-1]] + after)

    async def _quiet(self, since: float) -> None:
        """Wait until the line has been quiet for the turn gap (at most a minute)."""
        give_up = time.monotonic() + MAX_SECONDS
        while not self.over.is_set():
            self.ear.changed.clear()
            until = min(max(self.ear.last_loud_end(), since) + self.gap, give_up)
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ear.changed.wait(), remaining)

    async def _wait(self, ready: Callable[[], bool], deadline: float) -> bool:
        """Until ``ready()``, the deadline, or the call's end; whether it became ready."""
        while True:
            self.ear.changed.clear()
            if ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.over.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ear.changed.wait(), min(remaining, POLL_SECONDS))
