"""The barge-in example: speech for two frames clears the prompt; a click does not."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import pytest

from audio_socket.handlers.barge_in import RESUME_AFTER_SECONDS, BargeInHandler
from audio_socket.handlers.settings import PromptSettings
from audio_socket.handlers.sounds import long_prompt
from audio_socket.testing import CallTester


def level(dbfs: float) -> bytes:
    """A 20 ms 440 Hz tone whose RMS is ``dbfs``."""
    t = np.arange(320) / 16000
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    samples = np.round(amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    data: bytes = samples.tobytes()
    return data


def test_the_handler_reads_the_prompt_settings() -> None:
    """PROMPT_WAV is the barge-in handler's own setting, read through its settings_class."""
    assert BargeInHandler.settings_class is PromptSettings


async def test_two_loud_frames_clear_the_prompt_one_does_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A single click is ignored; speech (two frames in a row) stops the prompt at once."""
    with caplog.at_level(logging.INFO, "audio_socket"):
        async with CallTester(BargeInHandler) as tester:
            await tester.send_audio(level(-50) + level(-20) + level(-50) + level(-50))
            assert tester.controls == []
            assert tester.sent_pcm == long_prompt(16000)[: 4 * 640]  # the prompt plays
            await tester.send_audio(level(-20) * 2)
            assert tester.controls == [("clear",)]
            heard = len(tester.sent_frames)
            await tester.advance(1.0)  # quiet, but not long enough to start again
            assert len(tester.sent_frames) == heard
    assert [r.getMessage() for r in caplog.records].count("barge-in") == 1


async def test_the_prompt_starts_again_after_quiet() -> None:
    """After a barge-in, 2 s of quiet frames start the prompt again, from its beginning."""
    async with CallTester(BargeInHandler) as tester:
        await tester.send_audio(level(-20) * 2)
        assert tester.controls == [("clear",)]
        heard = len(tester.sent_frames)
        await tester.advance(RESUME_AFTER_SECONDS + 0.1)
        again = tester.sent_frames[heard:]
        assert again
        assert b"".join(again) == long_prompt(16000)[: len(again) * 640]


async def test_the_prompt_may_be_a_wav_file(tmp_path: Path) -> None:
    """PROMPT_WAV given: that file plays instead of the synthesised notes."""
    path = tmp_path / "prompt.wav"
    pcm = level(-20) * 10
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm)
    async with CallTester(BargeInHandler, settings=PromptSettings(prompt_wav=path)) as tester:
        await tester.advance(0.3)
    assert tester.sent_pcm[: len(pcm)] == pcm
