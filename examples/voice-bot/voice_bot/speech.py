"""Recognition and synthesis, as jobs for a thread of the pool: each returns its seconds.

``transcribe`` reads Whisper's segments in the thread: ``transcribe()`` returns a lazy
generator, and reading it is where the decoding happens, so consuming it on the event
loop would put the work back there.
"""

from __future__ import annotations

import re
import time
from typing import Final

import numpy as np
import soxr

from voice_bot.models import ASR_RATE, TTS_RATE, Models
from voice_bot.turns import Audio

__all__ = ["split_sentences", "synthesise", "transcribe"]

#: A sentence ends at . ! or ? followed by a space: the bot speaks the first while the
#: next is synthesised.
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+")


def transcribe(models: Models, audio: Audio, rate: int) -> tuple[str, float]:
    """The words in ``audio`` at ``rate``, and the seconds it took (resampling included:
    Whisper takes 16 kHz)."""
    started = time.perf_counter()
    if rate != ASR_RATE:
        audio = soxr.resample(audio, rate, ASR_RATE, quality="HQ")
    segments, _ = models.asr.transcribe(
        audio,
        beam_size=1,  # greedy: within a point of beam 5 on short turns, a third quicker
        language="en",
        without_timestamps=True,
        condition_on_previous_text=False,
    )
    text = " ".join(segment.text.strip() for segment in segments).strip()
    return text, time.perf_counter() - started


def synthesise(models: Models, sentence: str, rate: int) -> tuple[bytes, float]:
    """``sentence`` spoken in 16-bit PCM at ``rate``, and the seconds it took."""
    started = time.perf_counter()
    with models.tts_lock:
        voice = models.tts(sentence, seed=0)  # seeded: the same words, the same audio
    if rate != TTS_RATE:
        voice = soxr.resample(voice, TTS_RATE, rate, quality="HQ")
    pcm = (np.clip(voice, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm, time.perf_counter() - started


def split_sentences(text: str) -> list[str]:
    """``text`` as the sentences it is spoken in, empty ones left out."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
