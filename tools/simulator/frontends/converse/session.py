"""Scripted calls in this process: each one a call flow with a :class:`ScriptedAudio` caller.

The call flow is ``vonage/call.py``'s, unchanged: the signed answer request, the
NCCO and its talk time, the credentialed socket, events, reconnects, the playout
buffer and the REST API. The script runner plays the caller beside it; once the
call is over each turn is measured at the ear (``measure.py``).
"""

from __future__ import annotations

import asyncio
import functools
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.audio import FRAME_MS, Pcm
from simulator.frontends.converse.caller import ScriptedAudio, Utterance, utterance
from simulator.frontends.converse.ear import DEFAULT_AUDIBLE_DBFS
from simulator.frontends.converse.measure import TurnLog, measure_turn
from simulator.frontends.converse.runner import DEFAULT_TURN_GAP, MakeUtterance, ScriptRunner
from simulator.frontends.converse.script import Script, Turn
from simulator.net import client_ssl_context
from simulator.reports.converse_report import CallSummary, TurnResult
from simulator.reports.heard import heard_samples
from simulator.setup import Setup, open_api_link, say
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallRecord
from simulator.vonage.webhook import WebhookClient


@dataclass(frozen=True)
class ConverseOptions:
    """What ``converse`` runs: where, which script, how it listens, how many at once."""

    setup: Setup
    script: Script
    #: The audio of each ``say`` turn, by turn index (spoken or read before the call).
    voices: dict[int, Pcm]
    turn_gap: float = DEFAULT_TURN_GAP
    audible_dbfs: float = DEFAULT_AUDIBLE_DBFS
    calls: int = 1
    workers: int = 1
    #: Seconds over which the calls start.
    ramp: float = 0.0
    answer_url: str | None = None
    event_url: str | None = None
    #: Transcribe every reply, not only those a ``heard_contains`` checks.
    transcribe: bool = False
    out: Path | None = None
    progress: bool = False


@dataclass
class CallOutcome:
    """One scripted call's rows and summary, and what its caller heard (for ``--out``)."""

    turns: list[TurnResult]
    summary: CallSummary
    heard: bytes = b""
    rate: int = 0


@dataclass
class ShareResult:
    """The calls of one process, and how late its pacer sent (s, per busy tick)."""

    outcomes: list[CallOutcome]
    lateness: list[float] = field(default_factory=list)


async def run_share(options: ConverseOptions, first: int, count: int) -> ShareResult:
    """Run ``count`` scripted calls at once in this event loop (numbered from ``first``)."""
    setup = options.setup
    webhooks = WebhookClient(client_ssl_context(setup.cafile), setup.signer(), setup.timeouts)
    pacer = Pacer()
    link = await open_api_link(setup)
    progress = functools.partial(say, sys.stderr) if options.progress else (lambda _line: None)
    context = CallContext(
        webhooks,
        pacer,
        SignalCache(FRAME_MS / 1000),
        setup.signer(),
        say=progress,
        api_link=link,
    )
    lateness: list[float] = []
    try:
        starts = [options.ramp * j / max(1, options.calls) for j in range(first, first + count)]
        outcomes = await asyncio.gather(
            *(_call_at(options, context, first + j, at) for j, at in enumerate(starts))
        )
        lateness = list(pacer.recent_lateness)
    finally:
        await pacer.close()
        await webhooks.aclose()
        if link is not None:
            await link.close()
    return ShareResult(list(outcomes), lateness)


async def _call_at(
    options: ConverseOptions, context: CallContext, index: int, delay: float
) -> CallOutcome:
    if delay:
        await asyncio.sleep(delay)
    return await scripted_call(options, context, index)


async def scripted_call(options: ConverseOptions, context: CallContext, index: int) -> CallOutcome:
    """One call played from the script, measured."""
    audio = ScriptedAudio(options.audible_dbfs)
    call_options = options.setup.call_options(
        answer_url=options.answer_url, event_url=options.event_url, variant=index
    )
    call = Call(call_options, context, audio)
    runner = ScriptRunner(
        options.script, audio, call.record, _voice_maker(options), options.turn_gap
    )
    running = asyncio.create_task(call.run())
    running.add_done_callback(lambda _task: runner.call_over())
    try:
        logs = await runner.run()
    finally:
        audio.hang_up()
    record = await running
    turns = options.script.turns
    stops = [_stop_before(turns, logs, i) for i in range(len(turns))]
    results = [
        measure_turn(turn, log, audio.ear, record, gap=options.turn_gap, stop=stop)
        for turn, log, stop in zip(turns, logs, stops, strict=True)
    ]
    for result in results:
        result.call = index
    return CallOutcome(results, _summary(index, record, results), *_heard(options, record))


def _stop_before(turns: tuple[Turn, ...], logs: list[TurnLog], i: int) -> float:
    """A reply runs until the next turn's caller speaks over it, if it does."""
    if i + 1 < len(turns) and turns[i + 1].interrupt_after is not None:
        started = logs[i + 1].started
        if started is not None:
            return float(started)
    return math.inf


def _voice_maker(options: ConverseOptions) -> MakeUtterance:
    @functools.cache
    def frames(index: int, rate: int) -> Utterance:
        return utterance(options.voices[index], rate, options.audible_dbfs)

    def make(turn: Turn, rate: int) -> Utterance:
        made = frames(turn.index, rate)
        # Each saying is its own: the cached frames, fresh timing.
        return Utterance(made.frames, made.loud)

    return make


def _summary(index: int, record: CallRecord, results: list[TurnResult]) -> CallSummary:
    audio = record.audio
    return CallSummary(
        index,
        record.uuid,
        record.ended_by,
        error=record.error,
        overflowed=audio.playout.overflowed if audio is not None else 0,
        turns_passed=sum(r.passed for r in results),
        turns=len(results),
    )


def _heard(options: ConverseOptions, record: CallRecord) -> tuple[bytes, int]:
    audio = record.audio
    if options.out is None or audio is None or not audio.rate:
        return b"", 0
    samples = heard_samples(audio.playout, audio.rate, record.started_at, record.ended_at)
    return np.asarray(samples, np.int16).tobytes(), audio.rate
