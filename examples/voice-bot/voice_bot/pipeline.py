"""One call's conversation: turns in, answers out, and the answer stops when the caller speaks.

The event loop only moves audio: the VAD runs inline (0.1-0.2 ms a 32 ms window), and
recognition and synthesis run in the speech pool. Each answer is a task of the call:

    pause ─▶ recognise (pool) ┐
    turn ended ─────────────────┴▶ reply() ─▶ per sentence: synthesise (pool), play()
                                               └ the first sentence plays while the next
                                                 is synthesised

Recognition starts at the pause (``BOT_SPECULATE_MS`` of quiet), before the end of the
turn: when the turn ends with the caller quiet since, its words are that recognition's,
and the wait for the end of the turn hides most of it; when the caller went on
speaking, it is dropped and the whole turn recognised.

An onset of the caller's speech while an answer is under way cancels it: what was
queued is cleared at once (``call.clear()``), the rest of the answer is dropped, and
the caller's new turn is answered instead. A turn that was not yet answered when the
caller went on speaking is carried into the next one, so a pause mid-sentence does
not cut it in two. A hang-up or transfer, once decided, still happens: only its words
are cut short.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from typing import Any, Final

import numpy as np

from audio_socket import Call
from voice_bot import metrics
from voice_bot.models import Runtime
from voice_bot.replies import Action, Conversation, HangUp, Reply, Say, Transfer
from voice_bot.settings import BotSettings
from voice_bot.speech import split_sentences, synthesise, transcribe
from voice_bot.turns import Audio, SpeechPaused, SpeechStarted, TurnDetector, TurnEnded

__all__ = ["Bot"]

log = logging.getLogger("voice_bot")
#: Seconds an ending's last words may take to be heard before the hang-up goes anyway.
LAST_WORDS_TIMEOUT: Final = 10.0


class Bot:
    """The conversation of one call, over the process's shared models and pool."""

    def __init__(
        self, call: Call, runtime: Runtime, vad: Any, settings: BotSettings, reply: Reply
    ) -> None:
        self.call = call
        self._runtime = runtime
        self._reply = reply
        self._settings = settings
        self.detector = TurnDetector(
            vad,
            call.sample_rate,
            threshold=settings.vad_threshold,
            end_of_turn=settings.end_of_turn_ms / 1000,
            speculate=settings.speculate_ms / 1000 if settings.speculate_ms else None,
            pre_roll=settings.pre_roll_ms / 1000,
            min_speech=settings.min_speech_ms / 1000,
            max_turn=settings.max_turn_seconds,
        )
        self.conversation = Conversation(settings.greeting, resumed=call.start.resumed)
        self._generation = 0
        self._answer_task: asyncio.Task[None] | None = None
        #: The answer has sent audio that the caller may still be hearing.
        self._speaking = False
        #: The answer ends the call: a barge-in shortens its words, never cancels it.
        self._ending = False
        #: Turns the caller spoke past before they were answered (at most max_turn).
        self._carried: list[Audio] = []
        self._answering: Audio | None = None
        #: The recognition started at the turn's pause.
        self._guess: asyncio.Task[str] | None = None

    async def run(self) -> None:
        """Greet, then take turns until the call ends."""
        self._start_answer(None)
        loop = asyncio.get_running_loop()
        async for frame in self.call.audio():
            for event in self.detector.feed(frame, loop.time()):
                if isinstance(event, SpeechStarted):
                    self._interrupt()
                elif isinstance(event, SpeechPaused):
                    self._speculate(event.audio)
                elif not self._ending:
                    self._start_answer(event)

    # The event loop's side: cheap, synchronous

    def _interrupt(self) -> None:
        """The caller speaks: stop what the bot says, drop the answer under way."""
        if self._speaking:
            self.call.clear()
            self._speaking = False
            metrics.BARGE_INS.inc()
        if self._ending:
            return  # the hang-up or transfer goes on, without the rest of its words
        self._generation += 1
        task, self._answer_task = self._answer_task, None
        if task is not None and not task.done():
            task.cancel()
            metrics.TURNS.labels("interrupted").inc()
            if self._answering is not None:  # not answered yet: heard with the next turn
                self._carried.append(self._answering)
        self._answering = None

    def _speculate(self, audio: Audio) -> None:
        """Recognise the turn so far, in case the caller has finished."""
        self._drop_guess()
        if not self._ending:
            turn = np.concatenate([*self._carried, audio])[-self._max_samples :]
            self._guess = self.call.spawn(self._recognise(turn), name="voice bot recognition")

    def _drop_guess(self) -> None:
        if self._guess is not None:
            self._guess.cancel()  # its thread finishes the job; the pool's bound holds
            self._guess = None
            metrics.SPECULATIONS.labels("dropped").inc()

    def _start_answer(self, turn: TurnEnded | None) -> None:
        self._generation += 1
        audio, guess = None, None
        if turn is not None:
            audio = np.concatenate([*self._carried, turn.audio])[-self._max_samples :]
            self._carried = []
            if turn.after_pause and self._guess is not None:
                guess, self._guess = self._guess, None
                metrics.SPECULATIONS.labels("used").inc()
        self._drop_guess()
        self._answering = audio
        answer = self._answer(self._generation, audio, turn, guess)
        self.call.spawn(answer, name="voice bot answer")

    @property
    def _max_samples(self) -> int:
        return round(self._settings.max_turn_seconds * self.call.sample_rate)

    # The answer: a task of the call

    async def _answer(
        self,
        generation: int,
        audio: Audio | None,
        turn: TurnEnded | None,
        guess: asyncio.Task[str] | None,
    ) -> None:
        if generation != self._generation:
            if guess is not None:
                guess.cancel()
            return  # the caller spoke again before this task began
        self._answer_task = asyncio.current_task()
        transcript = None
        if audio is not None:
            transcript = await (guess if guess is not None else self._recognise(audio))
        self.conversation.history.extend([("caller", transcript)] if transcript else [])
        action = await self._decide(transcript)
        if action is None:
            metrics.TURNS.labels("silent").inc()
            self._answering = None
            return
        self._ending = isinstance(action, HangUp | Transfer)
        await self._speak(action.text, turn)
        if turn is not None:
            metrics.TURNS.labels("answered").inc()
        await self._end_call(action)

    async def _recognise(self, audio: Audio) -> str:
        models, rate = self._runtime.models, self.call.sample_rate
        (text, seconds), waited = await self._runtime.pool.run(
            lambda: transcribe(models, audio, rate)
        )
        metrics.ASR.observe(seconds)
        log.info(
            "caller turn",
            extra={
                "call_uuid": self.call.call_uuid,
                "audio_s": round(len(audio) / rate, 2),
                "chars": len(text),
                "asr_s": round(seconds, 3),
                "pool_wait_s": round(waited, 3),
            },
        )
        log.debug("caller said", extra={"call_uuid": self.call.call_uuid, "text": text})
        return text

    async def _decide(self, transcript: str | None) -> Action | None:
        decided = self._reply(transcript, self.conversation)
        if inspect.isawaitable(decided):
            decided = await decided
        if decided is not None and decided.text:
            self.conversation.history.append(("bot", decided.text))
            log.debug("bot says", extra={"call_uuid": self.call.call_uuid, "text": decided.text})
        return decided

    async def _speak(self, text: str, turn: TurnEnded | None) -> None:
        """Each sentence synthesised in the pool and queued as soon as it is ready."""
        models, rate = self._runtime.models, self.call.sample_rate
        for index, sentence in enumerate(split_sentences(text)):
            (pcm, seconds), _ = await self._runtime.pool.run(
                functools.partial(synthesise, models, sentence, rate)
            )
            if self._ending and not self._speaking and index:
                break  # a barge-in cut the last words short
            self.call.play(pcm)  # paced by the service; awaited below through played()
            self._speaking = True
            if index == 0:
                self._answering = None  # answered: a barge-in no longer carries this turn
                self._first_audio(seconds, turn)

    def _first_audio(self, tts_seconds: float, turn: TurnEnded | None) -> None:
        metrics.TTS_FIRST_AUDIO.observe(tts_seconds)
        if turn is None:
            return
        response = asyncio.get_running_loop().time() - turn.speech_ended_at
        metrics.RESPONSE.observe(response)
        log.info(
            "bot answers",
            extra={
                "call_uuid": self.call.call_uuid,
                "response_s": round(response, 3),
                "tts_first_s": round(tts_seconds, 3),
                "chars": len(self.conversation.history[-1][1]),
            },
        )

    async def _end_call(self, action: Action) -> None:
        if isinstance(action, Say):
            if self._speaking and await self.call.played():
                self._speaking = False
            return
        if self._speaking:  # the last words are heard before the line goes
            await self.call.played(timeout=LAST_WORDS_TIMEOUT)
        self._speaking = False
        if isinstance(action, HangUp):
            await self.call.hangup()
        else:
            await self.call.transfer(action.ncco)
