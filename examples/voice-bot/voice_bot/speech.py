"""Recognition and synthesis, as jobs for a thread of the pool: each returns its seconds.

``transcribe`` runs Whisper over a window cut to the turn (recogniser.py). ``synthesise``
trims hibari's silences: every sentence starts with 300 ms of zeros and ends with about
450 ms of near silence, which the caller would wait through before the answer and
between its sentences.
"""

from __future__ import annotations

import re
import time
from typing import Final

import numpy as np
import soxr

from voice_bot.models import ASR_RATE, TTS_RATE, Models
from voice_bot.turns import Audio

__all__ = ["split_sentences", "synthesise", "transcribe", "trim_silence"]

#: A sentence ends at . ! or ? followed by a space: the bot speaks the first while the
#: next is synthesised.
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+")
#: Quieter than this is silence to trim (-60 dBFS): converse hears from -50 dBFS.
SILENCE_LEVEL: Final = 10 ** (-60 / 20)
#: Kept before the first audible sample (a word's soft start) and after the last (the
#: pause between sentences).
LEAD_S: Final = 0.01
TAIL_S: Final = 0.15


def transcribe(models: Models, audio: Audio, rate: int) -> tuple[str, float]:
    """The words in ``audio`` at ``rate``, and the seconds it took (resampling included:
    Whisper takes 16 kHz)."""
    started = time.perf_counter()
    if rate != ASR_RATE:
        audio = soxr.resample(audio, rate, ASR_RATE, quality="HQ")
    text = models.recogniser(audio)
    return text, time.perf_counter() - started


def synthesise(models: Models, sentence: str, rate: int) -> tuple[bytes, float]:
    """``sentence`` spoken in 16-bit PCM at ``rate``, and the seconds it took."""
    started = time.perf_counter()
    with models.tts_lock:
        voice = models.tts(sentence, seed=0)  # seeded: the same words, the same audio
    voice = trim_silence(voice, TTS_RATE)
    if rate != TTS_RATE:
        voice = soxr.resample(voice, TTS_RATE, rate, quality="HQ")
    pcm = (np.clip(voice, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm, time.perf_counter() - started


def trim_silence(voice: Audio, rate: int) -> Audio:
    """``voice`` from ``LEAD_S`` before its first audible sample to ``TAIL_S`` after its
    last (all of it when nothing in it is audible)."""
    audible = np.flatnonzero(np.abs(voice) > SILENCE_LEVEL)
    if not len(audible):
        return voice
    start = max(0, int(audible[0]) - round(LEAD_S * rate))
    return voice[start : int(audible[-1]) + 1 + round(TAIL_S * rate)]


def split_sentences(text: str) -> list[str]:
    """``text`` as the sentences it is spoken in, empty ones left out."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
