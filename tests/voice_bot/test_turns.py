"""voice_bot.turns: onsets, pre-roll, the end of a turn, and its bounds, with a stand-in VAD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from voice_bot.turns import SpeechPaused, SpeechStarted, TurnDetector, TurnEnded, TurnEvent

RATE = 16000

FRAME_S = 0.02


class LoudnessVad:
    """Speech is any window louder than a quarter of full scale, as a probability of 0 or 1."""

    def __init__(self) -> None:
        self.windows = 0

    def process(self, window: Any) -> float:
        self.windows += 1
        audio = np.frombuffer(window, np.float32)
        return float(np.abs(audio).max() > 0.25)


def tone(seconds: float, rate: int = RATE) -> bytes:
    """A loud 300 Hz tone: speech to the stand-in VAD."""
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 300 * t) * 16000).astype("<i2").tobytes()


def quiet(seconds: float, rate: int = RATE) -> bytes:
    return bytes(2 * round(seconds * rate))


def feed(detector: TurnDetector, pcm: bytes, rate: int = RATE) -> list[tuple[float, TurnEvent]]:
    """``pcm`` in 20 ms frames; each event with the time of the frame that produced it."""
    size = rate * 2 // 50
    events = []
    for index in range(len(pcm) // size):
        now = index * FRAME_S
        events += [(now, e) for e in detector.feed(pcm[index * size : (index + 1) * size], now)]
    return events


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_a_turn_is_an_onset_then_the_audio_once_the_caller_is_quiet(rate: int) -> None:
    """Every rate gives 16 kHz windows of 32 ms; the turn ends after end_of_turn of quiet."""
    vad = LoudnessVad()
    detector = TurnDetector(vad, rate, end_of_turn=0.4, pre_roll=0.3)
    events = feed(detector, quiet(1.0, rate) + tone(1.0, rate) + quiet(1.0, rate), rate)
    (onset_at, onset), (ended_at, ended) = events
    assert isinstance(onset, SpeechStarted)
    assert 1.0 <= onset_at <= 1.0 + 0.04 + 0.032  # the window that holds the tone's start
    assert isinstance(ended, TurnEnded)
    # 12 quiet windows (384 ms: end_of_turn to a window, never over it), give or take one
    assert 2.0 + 0.4 - 0.05 <= ended_at <= 2.0 + 0.4 + 0.05
    assert 1.0 <= ended.speech_ended_at <= 2.05
    # pre-roll (0.3 s) + the tone (1 s) + the quiet that ended it (0.4 s), to a window
    assert ended.seconds == pytest.approx(1.7, abs=0.1)
    assert vad.windows == pytest.approx(3.0 / 0.032, abs=2)  # 32 ms windows at every rate


def test_the_pre_roll_keeps_the_quiet_before_the_onset() -> None:
    """The turn starts pre_roll before the first voiced window, not at it."""
    detector = TurnDetector(LoudnessVad(), RATE, pre_roll=0.3)
    (_, ended) = feed(detector, quiet(1.0) + tone(0.5) + quiet(1.0))[1]
    assert isinstance(ended, TurnEnded)
    leading = np.argmax(np.abs(ended.audio) > 0.25) / RATE
    assert ended.rate == RATE
    assert leading == pytest.approx(0.3, abs=0.04)


def test_a_click_is_no_turn() -> None:
    """Less than min_speech of speech: an onset, then nothing to answer."""
    detector = TurnDetector(LoudnessVad(), RATE, min_speech=0.15)
    events = [e for _, e in feed(detector, quiet(0.5) + tone(0.06) + quiet(1.0))]
    assert [type(e) for e in events] == [SpeechStarted]
    assert not detector.in_speech


def test_a_pause_shorter_than_the_end_of_turn_keeps_one_turn() -> None:
    """Two words 0.3 s apart are one turn when the end of turn is 0.4 s."""
    detector = TurnDetector(LoudnessVad(), RATE, end_of_turn=0.4)
    pcm = quiet(0.5) + tone(0.4) + quiet(0.3) + tone(0.4) + quiet(1.0)
    assert [type(e) for _, e in feed(detector, pcm)] == [SpeechStarted, TurnEnded]


def test_a_turn_never_outgrows_max_turn() -> None:
    """A caller who never stops is answered every max_turn seconds."""
    detector = TurnDetector(LoudnessVad(), RATE, max_turn=2.0)
    turns = [e for _, e in feed(detector, tone(7.0)) if isinstance(e, TurnEnded)]
    assert len(turns) == 3
    assert all(turn.seconds <= 2.0 + 0.032 for turn in turns)


def test_a_pause_hands_the_turn_so_far_before_it_ends() -> None:
    """``speculate`` of quiet: the turn so far; the end follows, marked as after the pause."""
    detector = TurnDetector(LoudnessVad(), RATE, end_of_turn=0.3, speculate=0.15)
    events = feed(detector, quiet(0.5) + tone(0.5) + quiet(1.0))
    (_, onset), (paused_at, paused), (ended_at, ended) = events
    assert isinstance(onset, SpeechStarted)
    assert isinstance(paused, SpeechPaused)
    assert isinstance(ended, TurnEnded)
    assert ended.after_pause
    assert paused_at == pytest.approx(1.0 + 0.15, abs=0.05)
    assert ended_at == pytest.approx(1.0 + 0.3, abs=0.05)
    # the same words: the turn's audio is the pause's and the quiet since
    assert np.array_equal(ended.audio[: len(paused.audio)], paused.audio)


def test_speech_after_the_pause_makes_it_stale() -> None:
    """A pause longer than ``speculate`` but shorter than the end of turn: two pauses, one
    turn, and only the last pause holds all of it."""
    detector = TurnDetector(LoudnessVad(), RATE, end_of_turn=0.3, speculate=0.15)
    pcm = quiet(0.5) + tone(0.4) + quiet(0.22) + tone(0.4) + quiet(1.0)
    kinds = [type(e) for _, e in feed(detector, pcm)]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechPaused, TurnEnded]
    detector = TurnDetector(LoudnessVad(), RATE, end_of_turn=0.3, speculate=0.15, max_turn=1.0)
    (ended,) = [
        e for _, e in feed(detector, tone(0.5) + quiet(0.2) + tone(1.5)) if isinstance(e, TurnEnded)
    ][:1]
    assert not ended.after_pause  # cut at max_turn while speaking


def test_no_pause_without_speculate() -> None:
    """``speculate=None`` (or not under the end of turn): onsets and ends only."""
    for speculate in (None, 0.4):
        detector = TurnDetector(LoudnessVad(), RATE, end_of_turn=0.3, speculate=speculate)
        kinds = [type(e) for _, e in feed(detector, quiet(0.5) + tone(0.5) + quiet(1.0))]
        assert kinds == [SpeechStarted, TurnEnded]
