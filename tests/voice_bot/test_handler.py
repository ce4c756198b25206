"""voice_bot.handler with the real models: it hears, repeats, hangs up, transfers, stops.

Each call runs through ``audio_socket.testing.CallTester``: the caller's frames reach
the bot a tick at a time on the tester's clock, while recognition and synthesis run
in the bot's threads in real time (``run_until`` lets both move).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from voice_bot import make_voice_bot, metrics
from voice_bot.accuracy import word_accuracy
from voice_bot.handler import load_models
from voice_bot.models import Runtime
from voice_bot.replies import HangUp, Say, Transfer
from voice_bot.speech import transcribe

from audio_socket.testing import CallTester
from tests.voice_bot.helpers import Recorder, Speak, run_until, settings, until_quiet

LINE = "I would like to pay my bill with a credit card."
TICK = 0.02


async def greeted(tester: CallTester, bot: Recorder) -> None:
    """Until the greeting has been heard whole."""
    await run_until(tester, lambda: bool(bot.exchanges), "the greeting")
    await until_quiet(tester, "the greeting heard")


def heard_from(tester: CallTester, first_frame: int, runtime: Runtime) -> str:
    """What the caller heard from ``first_frame`` on, recognised."""
    pcm = b"".join(tester.sent_frames[first_frame:])
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    return transcribe(runtime.models, audio, tester.call.sample_rate)[0]


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_it_says_back_what_the_caller_said(
    rate: int, runtime: Runtime, speak: Speak, caplog: pytest.LogCaptureFixture
) -> None:
    """At every rate: the greeting, then "You said: " and the caller's words, spoken."""
    caplog.set_level(logging.DEBUG, logger="voice_bot")
    bot = Recorder()
    async with CallTester(make_voice_bot(bot), sample_rate=rate, settings=settings()) as tester:
        await greeted(tester, bot)
        assert tester.sent_seconds > 2.0
        before = len(tester.sent_frames)
        await tester.send_audio(speak(LINE, rate))
        await run_until(tester, lambda: len(bot.exchanges) == 2, "an answer")
        await until_quiet(tester, "the answer heard")
        transcript, action = bot.exchanges[1]
        assert transcript is not None
        assert word_accuracy([(LINE, transcript)]) >= 0.8, transcript
        assert action == Say(f"You said: {transcript}")
        spoken = heard_from(tester, before, runtime)
        assert word_accuracy([(f"You said: {transcript}", spoken)]) >= 0.8, spoken
    words = set(LINE.lower().replace(".", "").split()) - {"i", "a", "my", "to", "with"}
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}".lower()
        if record.levelno >= logging.INFO:  # the caller's words only ever at DEBUG
            assert not any(word in text.split() or f"'{word}" in text for word in words), text
    assert any("credit" in str(r.__dict__.get("text", "")).lower() for r in caplog.records)


async def test_goodbye_hangs_up_once_the_goodbye_was_heard(runtime: Runtime, speak: Speak) -> None:
    """ "Goodbye": the bot says goodbye, then asks Vonage's REST API to hang up."""
    bot = Recorder()
    async with CallTester(make_voice_bot(bot), settings=settings()) as tester:
        await greeted(tester, bot)
        before = tester.sent_seconds
        await tester.send_audio(speak("Goodbye and have a nice day."))
        await run_until(tester, lambda: bool(tester.requests), "a hang-up")
        assert isinstance(bot.exchanges[-1][1], HangUp)
        assert [r.action for r in tester.requests] == ["hangup"]
        assert tester.sent_seconds - before > 1.0  # the goodbye played first
        assert tester.ended is not None


async def test_operator_transfers_the_call(runtime: Runtime, speak: Speak) -> None:
    """ "Operator": the bot says so, then the call's NCCO becomes a talk action."""
    bot = Recorder()
    async with CallTester(make_voice_bot(bot), settings=settings()) as tester:
        await greeted(tester, bot)
        await tester.send_audio(speak("Can I speak to the operator please?"))
        await run_until(tester, lambda: bool(tester.requests), "a transfer")
        assert isinstance(bot.exchanges[-1][1], Transfer)
        (transfer,) = tester.requests
        assert transfer.action == "transfer"
        assert transfer.args[0][0]["action"] == "talk"


async def test_the_caller_interrupts_the_bot(runtime: Runtime, speak: Speak) -> None:
    """Speech while the bot talks clears its audio within 100 ms of the onset reaching
    the bot; what the caller said is the next turn."""
    bot = Recorder()
    long_greeting = "Hello, this is the voice bot. " * 4 + "Say something and I will repeat it."
    barge_ins = metrics.REGISTRY_USED.get_sample_value("bot_barge_ins_total") or 0.0
    async with CallTester(make_voice_bot(bot), settings=settings(greeting=long_greeting)) as tester:
        await run_until(tester, lambda: tester.sent_seconds > 1.0, "the greeting under way")
        line = speak("What time does the store open tomorrow morning?")
        frames = [line[i : i + tester.call.frame_bytes] for i in range(0, len(line), 640)]
        loud = [np.abs(np.frombuffer(f, "<i2")).max() > 0.02 * 32768 for f in frames]
        onset = loud.index(True)
        cleared_at = None
        for index, frame in enumerate(frames):
            await tester.send_audio(frame)
            if cleared_at is None and ("clear",) in tester.controls:
                cleared_at = index
        assert cleared_at is not None
        assert (cleared_at - onset) * TICK <= 0.1, f"cleared {cleared_at - onset} frames late"
        assert tester.sent_seconds < 8.0  # the greeting, some 10 s long, stopped
        await run_until(tester, lambda: len(bot.exchanges) == 2, "the caller's turn answered")
        assert (
            word_accuracy([("What time does the store open tomorrow morning?", bot.heard[0])]) > 0.8
        )
        await until_quiet(tester, "the answer heard")
    assert (metrics.REGISTRY_USED.get_sample_value("bot_barge_ins_total") or 0) > barge_ins


async def test_each_turn_is_measured(runtime: Runtime, speak: Speak) -> None:
    """A turn observes the four histograms on /metrics (the handlers' registry)."""

    def count(name: str) -> float:
        return metrics.REGISTRY_USED.get_sample_value(f"{name}_count") or 0.0

    names = [
        "bot_turn_response_seconds",
        "bot_turn_asr_seconds",
        "bot_turn_tts_first_audio_seconds",
        "bot_turn_pool_wait_seconds",
    ]
    before = {name: count(name) for name in names}
    used = ("bot_asr_speculations_total", {"outcome": "used"})
    speculated = metrics.REGISTRY_USED.get_sample_value(*used) or 0.0
    bot = Recorder()
    async with CallTester(make_voice_bot(bot), settings=settings()) as tester:
        await greeted(tester, bot)
        await tester.send_audio(speak("Please send the receipt to my email address."))
        await run_until(tester, lambda: len(bot.exchanges) == 2, "an answer")
        await until_quiet(tester, "the answer heard")
    assert all(count(name) > before[name] for name in names)
    # recognised from the pause: the caller stayed quiet to the end of the turn
    assert (metrics.REGISTRY_USED.get_sample_value(*used) or 0.0) > speculated


def test_the_models_load_before_the_service_listens() -> None:
    """The handler's on_startup hook loads the models (docs/handlers.md)."""
    assert make_voice_bot().startup is load_models  # type: ignore[attr-defined]
