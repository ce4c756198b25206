"""The barge-in example: speech for two frames clears the prompt; a click does not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import numpy as np

from audio_socket.handlers.barge_in import SPEECH_DBFS, BargeInHandler, frame_power
from audio_socket.prompts import PromptSource
from tests.audio_socket.recording import END, START, RecordingCall


def level(dbfs: float) -> bytes:
    """A 20 ms 440 Hz tone whose RMS is ``dbfs``."""
    t = np.arange(320) / 16000
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    samples = np.round(amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    data: bytes = samples.tobytes()
    return data


class PlayingCall(RecordingCall):
    """A call whose prompt plays until cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.playing: list[asyncio.Future[bool]] = []

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.playing.append(done)
        return done

    def clear(self) -> None:
        super().clear()
        for done in self.playing:
            if not done.done():
                done.set_result(False)


def test_frame_power_measures_the_level() -> None:
    """A tone at -20 dBFS is above the speech threshold, one at -50 below, silence zero."""
    speech, noise = frame_power(level(-20)), frame_power(level(-50))
    threshold = (32768 * 10 ** (SPEECH_DBFS / 20)) ** 2
    assert noise < threshold < speech
    assert frame_power(bytes(640)) == 0.0


async def test_two_loud_frames_clear_the_prompt_one_does_not() -> None:
    """A single click is ignored; speech (two frames in a row) stops the prompt at once."""
    call, handler = PlayingCall(), BargeInHandler()
    handler.on_start(call, START)
    await asyncio.sleep(0)  # the prompt's task starts
    for frame in (level(-50), level(-20), level(-50), level(-50)):
        handler.on_audio(frame)
    assert call.controls == []
    handler.on_audio(level(-20))
    handler.on_audio(level(-20))
    assert call.controls == ["clear"]
    assert handler.barge_ins == 1
    handler.on_end(END)


async def test_the_prompt_starts_again_after_quiet() -> None:
    """After a barge-in, 2 s of quiet frames start the prompt again."""
    call, handler = PlayingCall(), BargeInHandler()
    handler.on_start(call, START)
    await asyncio.sleep(0)
    handler.on_audio(level(-20))
    handler.on_audio(level(-20))
    await asyncio.sleep(0)  # the cleared play returns; its task ends
    await asyncio.sleep(0)
    for _ in range(100):
        handler.on_audio(level(-60))
    await asyncio.sleep(0)
    assert len(call.playing) == 2
    handler.on_end(END)
