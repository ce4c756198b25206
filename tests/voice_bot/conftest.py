"""Fixtures of the voice bot's tests: its models, loaded once per session, and a caller's voice.

The caller speaks with Debian's ``flite`` (voice awb, male, 16 kHz), never with the
bot's own voice, so the recogniser is tested on speech it was not made from. Tests
that need the models or flite skip without them, except under ``CI=true``, where
``make setup`` installs the bot's requirements and ``.ci/run`` installs flite, so they
fail instead. The hub is never asked: ``HF_HUB_OFFLINE=1`` before anything loads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import wave

import numpy as np
import pytest
import soxr

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from voice_bot.models import Runtime, start_loading

from tests.voice_bot.helpers import Speak, require_speech


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The models and the pool every bot call of this process shares (2 workers)."""
    require_speech()
    return start_loading(2).result(timeout=120)


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Speak:
    """``speak(text, rate=16000, voice="awb")``: 16-bit PCM of flite saying ``text``."""
    require_speech()
    folder = tmp_path_factory.mktemp("flite")
    cache: dict[tuple[str, int, str], bytes] = {}

    def say(text: str, rate: int = 16000, voice: str = "awb") -> bytes:
        key = (text, rate, voice)
        if key not in cache:
            path = folder / f"{hashlib.sha256(repr(key).encode()).hexdigest()}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
            with wave.open(str(path), "rb") as wav:
                native = wav.getframerate()
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
            audio = pcm.astype(np.float32) / 32768.0
            if native != rate:
                audio = soxr.resample(audio, native, rate, quality="HQ")
            cache[key] = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        return cache[key]

    return say
