"""``python -m simulator converse URL --script FILE``: a scripted caller, measured at the ear.

The script is read and checked, and every text spoken, before any call is placed
(a refused script exits 2, naming the turn). The calls run in this process, or
over ``--workers`` processes as ``load`` spreads them; replies are transcribed
afterwards, in this process, so the recognizer never delays a frame.
From Python: :func:`converse` (its own event loop, workers too) or
:func:`converse_here` (in the running loop, in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from simulator.audio import Pcm, read_wav, write_wav
from simulator.errors import SimulatorError, UsageError
from simulator.frontends.converse.script import Script, load_script
from simulator.frontends.converse.session import ConverseOptions, ShareResult, run_share
from simulator.reports.converse_report import ConverseReport, TurnResult, render
from simulator.setup import EXIT_FAILED, EXIT_OK, Setup, fail, resolve
from simulator.speech import asr, tts

EXIT_SLIPPED = 3  # as ``load``: every turn passed, but the simulator ran late
MAX_TURN_GAP = 10.0


def converse_main(args: argparse.Namespace) -> int:
    """``converse`` with its failures turned into one line and a status."""
    try:
        options = converse_options(args, resolve(args))
        report = converse(options)
    except SimulatorError as exc:
        return fail(exc)
    print(json.dumps(report.as_dict()) if args.json else render(report))
    if not report.passed:
        return EXIT_FAILED
    return EXIT_SLIPPED if report.slipped else EXIT_OK


def converse_options(args: argparse.Namespace, setup: Setup) -> ConverseOptions:
    """Check the options and the script; speak the texts (all before any call)."""
    if args.calls < 1:
        raise UsageError("--calls must be at least 1")
    if not 1 <= args.workers <= args.calls:
        raise UsageError("--workers must be between 1 and --calls")
    if not 0 < args.turn_gap <= MAX_TURN_GAP:
        raise UsageError(f"--turn-gap must be between 0 and {MAX_TURN_GAP:g} s")
    if not -120 < args.audible_dbfs < 0:
        raise UsageError("--audible-dbfs must be between -120 and 0")
    script = load_script(args.script)
    if args.transcribe:
        asr.require_asr()
    cache = args.speech_cache or tts.default_cache()
    return ConverseOptions(
        setup,
        script,
        voices(script, cache),
        turn_gap=args.turn_gap,
        audible_dbfs=args.audible_dbfs,
        calls=args.calls,
        workers=args.workers,
        ramp=args.ramp,
        answer_url=args.answer_url,
        event_url=args.event_url,
        transcribe=args.transcribe,
        out=args.out,
        progress=not args.json and args.calls == 1,
    )


def voices(script: Script, cache: Path) -> dict[int, Pcm]:
    """Each ``say`` turn's audio; refuses, naming what to install, what cannot be played."""
    if script.needs_tts and not tts.espeak_available():
        raise UsageError(tts.INSTALL_HINT)
    if script.needs_asr:
        asr.require_asr()
    speaker = tts.SpeechCache(cache)
    made: dict[int, Pcm] = {}
    for turn in script.turns:
        if turn.wav is not None:
            made[turn.index] = read_wav(turn.wav)
        elif turn.text is not None:
            made[turn.index] = speaker.speak(turn.text)
    return made


def converse(options: ConverseOptions) -> ConverseReport:
    """Run the scripted calls (over worker processes when asked); the report."""
    if options.workers == 1:
        return asyncio.run(converse_here(options))
    shares = [options.calls // options.workers] * options.workers
    for w in range(options.calls % options.workers):
        shares[w] += 1
    firsts = [sum(shares[:w]) for w in range(options.workers)]
    with ProcessPoolExecutor(options.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, options, f, n) for f, n in zip(firsts, shares, strict=True)]
        results = [future.result() for future in futures]
    return asyncio.run(_finish(options, results))


def _worker(options: ConverseOptions, first: int, count: int) -> ShareResult:
    return asyncio.run(run_share(options, first, count))


async def converse_here(options: ConverseOptions) -> ConverseReport:
    """Run every scripted call in this process and event loop; the report."""
    return await _finish(options, [await run_share(options, 0, options.calls)])


async def _finish(options: ConverseOptions, shares: list[ShareResult]) -> ConverseReport:
    outcomes = [o for share in shares for o in share.outcomes]
    turns = [t for o in outcomes for t in o.turns]
    await asyncio.to_thread(_transcribe, options, turns)
    lateness = [late for share in shares for late in share.lateness]
    report = ConverseReport(
        turns,
        [o.summary for o in outcomes],
        options.audible_dbfs,
        options.turn_gap,
        lateness_p99_ms=float(np.percentile(lateness, 99)) * 1000 if lateness else 0.0,
        workers=options.workers,
    )
    if options.out is not None and outcomes and outcomes[0].rate:
        write_wav(options.out, outcomes[0].rate, [outcomes[0].heard])
        if len(outcomes) > 1:
            report.notes.append(f"{options.out}: what the caller of call 0 heard")
    return report


def _transcribe(options: ConverseOptions, turns: list[TurnResult]) -> None:
    for turn in turns:
        if not (turn.heard_contains or options.transcribe) or not turn.reply_pcm:
            continue
        samples = np.frombuffer(turn.reply_pcm, "<i2")
        turn.heard = asr.transcribe(samples, turn.rate)
        missing = asr.missing_words(turn.heard, turn.heard_contains)
        if missing:
            turn.fail(f"did not hear {', '.join(map(repr, missing))}")
