"""voice_bot.speech: hibari's silences trimmed, the answer's first sound at once."""

from __future__ import annotations

import numpy as np
import pytest
from voice_bot.models import Runtime
from voice_bot.speech import LEAD_S, TAIL_S, synthesise, trim_silence

RATE = 24000


def test_trim_keeps_a_little_either_side_of_the_sound() -> None:
    """300 ms of zeros before, 450 ms of near silence after: LEAD_S and TAIL_S are left."""
    sound = np.full(RATE // 2, 0.1, np.float32)
    voice = np.concatenate([np.zeros(3 * RATE // 10), sound, np.full(RATE * 45 // 100, 1e-4)])
    trimmed = trim_silence(voice.astype(np.float32), RATE)
    assert len(trimmed) == round((LEAD_S + 0.5 + TAIL_S) * RATE)
    assert np.flatnonzero(trimmed)[0] == round(LEAD_S * RATE)


def test_silence_is_left_as_it_is() -> None:
    """Nothing audible: nothing to trim to."""
    quiet = np.zeros(RATE, np.float32)
    assert len(trim_silence(quiet, RATE)) == RATE


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_an_answer_is_audible_within_20_ms(runtime: Runtime, rate: int) -> None:
    """The first 20 ms frame of a synthesised sentence is already above -50 dBFS (what
    the caller's ear, converse, counts as heard) or the next one is."""
    pcm, _ = synthesise(runtime.models, "You said: book a table for two.", rate)
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    frame = rate // 50
    levels = [
        10 * np.log10(np.mean(audio[i : i + frame] ** 2) + 1e-12)
        for i in range(0, 3 * frame, frame)
    ]
    assert max(levels[:2]) > -50, levels
