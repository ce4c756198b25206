"""Whisper over a context cut to the turn: a 3 s turn costs its own length, not 30 s.

Whisper was trained on 30 s windows and faster-whisper pads every input to one, so
its encoder costs the same 0.45-0.55 s (one thread, tiny.en, int8) whatever was said.
CTranslate2's encoder takes a shorter window: 10 s of features encode in 0.08 s.
With less context than the turn plus a second, Whisper tiny.en repeats itself into
the silence ("Can you tell me the weather forecast for today? Can you tell me..."),
so the window is the turn plus a second, at least ``MIN_CONTEXT_S``; and a decoding
that still repeats itself (faster-whisper's compression-ratio test) or runs to its
token bound is done again on the full 30 s window, as faster-whisper would have done
it. A merely unsure one (low mean log-probability) is not: redoing those too cost one
turn in four 0.5 s more in a run of the stack's script, and the accuracy set needs
neither (99.5 % and 97.8 % either way).

Measured on the accuracy set (tests/voice_bot/utterances.txt, flite awb): the turn
plus 1 s alone, 94.0 % of words at 16 kHz (one line repeated); at least 10 s, 99.5 %
at 16 kHz and 97.8 % at 8 kHz, against 98.9 % and 96.7 % on 30 s; 0.15 s a turn
instead of 0.5 s.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from voice_bot import metrics
from voice_bot.turns import Audio

__all__ = ["FULL_CONTEXT_S", "MIN_CONTEXT_S", "Recogniser"]

#: Whisper's own window.
FULL_CONTEXT_S: Final = 30.0
#: The shortest window decoded: below it tiny.en repeats into the padding.
MIN_CONTEXT_S: Final = 10.0
#: Silence after the turn in the window.
PAD_S: Final = 1.0
#: Feature frames a second (10 ms hop).
FRAMES_PER_S: Final = 100
#: faster-whisper's thresholds: a decoding past them is redone (or is silence).
COMPRESSION_RATIO_MAX: Final = 2.4
LOG_PROB_MIN: Final = -1.0
NO_SPEECH_MIN: Final = 0.6
#: Tokens a second of speech may produce, and a floor for short turns: a bound on the
#: decoding, far above English speech (about 4 tokens a second).
TOKENS_PER_S: Final = 8
TOKENS_MIN: Final = 24


class Recogniser:
    """English transcription of one turn (16 kHz float32) with a faster-whisper model."""

    def __init__(self, model: Any) -> None:
        # Imported here: faster_whisper is heavy, and loaded only with the models.
        from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]  # noqa: PLC0415
        from faster_whisper.transcribe import (  # type: ignore[import-untyped]  # noqa: PLC0415
            get_compression_ratio,
            get_suppressed_tokens,
        )

        self._model = model
        self._tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        self._prompt: list[int] = model.get_prompt(self._tokenizer, [], without_timestamps=True)
        self._suppress: list[int] = get_suppressed_tokens(self._tokenizer, [-1])
        self._compression_ratio = get_compression_ratio

    def __call__(self, audio: Audio) -> str:
        """The words in ``audio`` (16 kHz); empty when it holds no speech."""
        features = self._model.feature_extractor(audio)
        seconds = features.shape[1] / FRAMES_PER_S
        context = min(FULL_CONTEXT_S, max(MIN_CONTEXT_S, seconds + PAD_S))
        text, sure = self._decode(features, context, seconds)
        if not sure and context < FULL_CONTEXT_S:
            metrics.ASR_RETRIES.inc()
            text, _ = self._decode(features, FULL_CONTEXT_S, seconds)
        return text

    def _decode(self, features: Any, context: float, seconds: float) -> tuple[str, bool]:
        """Greedy decoding over ``context`` seconds of window; the text, and whether it
        did not repeat itself."""
        import ctranslate2  # type: ignore[import-untyped]  # noqa: PLC0415 - loaded with faster_whisper

        frames = 2 * round(context * FRAMES_PER_S / 2)  # the encoder's convolution halves it
        window = np.zeros((features.shape[0], frames), np.float32)
        window[:, : min(frames, features.shape[1])] = features[:, :frames]
        limit = min(len(self._prompt) + TOKENS_MIN + round(TOKENS_PER_S * seconds), 448)
        result = self._model.model.generate(
            ctranslate2.StorageView.from_array(window[None]),
            [self._prompt],
            beam_size=1,
            max_length=limit,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = result.sequences_ids[0]
        text = self._tokenizer.decode(tokens).strip()
        log_prob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > NO_SPEECH_MIN and log_prob < LOG_PROB_MIN:
            return "", True  # silence, as faster-whisper skips such a segment
        sure = (
            self._compression_ratio(text) <= COMPRESSION_RATIO_MAX
            and len(self._prompt) + len(tokens) < limit
        )
        return text, sure
