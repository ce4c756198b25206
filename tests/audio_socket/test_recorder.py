"""The recorder: a stereo WAV per leg, complete on drain, aligned on the caller's clock."""

from __future__ import annotations

import asyncio
import logging
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from audio_socket import Call, CallHandler, CallStart
from audio_socket.handlers.echo import EchoHandler
from audio_socket.handlers.recorder import (
    Recording,
    RecordingHandler,
    recorded_echo,
    recording_path,
)
from audio_socket.handlers.settings import RecorderSettings
from audio_socket.testing import CallTester
from tests.audio_socket.helpers import open_call, running

FRAME = 640


def numbered(n: int) -> bytes:
    """A frame whose samples all equal ``n``."""
    return np.full(FRAME // 2, n, "<i2").tobytes()


def channels(path: Path) -> tuple[list[int], list[int]]:
    """Each frame's value, left and right (0 for silence)."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    per = FRAME // 2
    frames = stereo[: len(stereo) - len(stereo) % per].reshape(-1, per, 2)
    return [int(f[0, 0]) for f in frames], [int(f[0, 1]) for f in frames]


async def test_a_drained_call_leaves_a_complete_recording(tmp_path: Path) -> None:
    """The server drains (1001): on_end has written every frame before it is done."""

    def factory(call: Call) -> CallHandler:
        return RecordingHandler(call, EchoHandler, tmp_path)

    async with running(factory) as server, open_call(server.port, "call/../1") as ws:
        for n in range(1, 151):
            await ws.send(numbered(n))
        for _ in range(150):  # read as Vonage does: a full client would hold up the close
            await ws.recv()
        assert sum(c.frames_in for c in server._calls) == 150
        await server.aclose()  # the drain's end: close with 1001, await on_end
    assert os.listdir(tmp_path) == ["call_.._1-1.wav"]  # a file name, never a path
    left, right = channels(tmp_path / "call_.._1-1.wav")
    assert left == list(range(1, 151))
    assert right == left  # the echo of each frame, where the caller's was


async def test_a_clear_cuts_what_was_sent_ahead(tmp_path: Path) -> None:
    """Sent ahead, then cleared: the right channel stops where the caller was."""
    recording = Recording(tmp_path / "r.wav", 16000, FRAME)
    for n in range(1, 11):
        recording.caller(numbered(n))
    for n in range(100, 130):  # a prompt, 30 frames ahead at once
        recording.sent(numbered(n))
    recording.cleared()
    for n in range(11, 16):
        recording.caller(numbered(n))
        recording.sent(numbered(n + 1000))  # then an echo-like reply
    await recording.finish()
    left, right = channels(tmp_path / "r.wav")
    assert left == list(range(1, 16))
    # The prompt plays from where the caller was (frame 10) and is cut by the clear
    # a frame later; the replies after it follow the caller's frames.
    assert right[:10] == [0] * 9 + [100]
    assert right[10:] == [n + 1000 for n in range(11, 16)]


async def test_a_second_recording_of_a_leg_never_overwrites(tmp_path: Path) -> None:
    """The same call and attempt again: -2 is added, the first file is kept."""
    start = CallStart("audio/l16;rate=16000", 16000, FRAME, {"call_uuid": "u", "attempt": 2})
    path = recording_path(tmp_path, start)
    assert path.name == "u-2.wav"
    for _ in range(2):
        recording = Recording(path, 16000, FRAME)
        recording.caller(numbered(1))
        await recording.finish()
    assert sorted(os.listdir(tmp_path)) == ["u-2-2.wav", "u-2.wav"]


async def test_a_recording_that_cannot_be_written_does_not_end_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder that is a file: one error line; the call's audio goes on."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    def factory(call: Call) -> CallHandler:
        return RecordingHandler(call, EchoHandler, blocker / "x")

    with caplog.at_level(logging.ERROR, "audio_socket"):
        async with running(factory) as server, open_call(server.port) as ws:
            await ws.send(numbered(7))
            assert await asyncio.wait_for(ws.recv(), 10) == numbered(7)
    failures = [r for r in caplog.records if r.getMessage() == "recording failed"]
    assert len(failures) == 1


async def test_what_play_sends_is_recorded_where_it_plays(tmp_path: Path) -> None:
    """A handler's paced prompt lands on the right channel, in order, from the start."""
    prompt = b"".join(numbered(n) for n in range(1, 21))

    class Prompt(CallHandler):
        def on_start(self, call: Call, start: CallStart) -> None:
            call.play(prompt)

    def factory(call: Call) -> CallHandler:
        return RecordingHandler(call, lambda inner: Prompt(), tmp_path)

    async with running(factory) as server, open_call(server.port) as ws:
        for _ in range(30):  # the caller, at real time, while the prompt plays
            await ws.send(numbered(0))
            await asyncio.sleep(0.02)
        for _ in range(20):  # the prompt, read as Vonage does
            await asyncio.wait_for(ws.recv(), 10)
    [name] = os.listdir(tmp_path)
    _, right = channels(tmp_path / name)
    played = [n for n in right if n]
    assert played == list(range(1, 21))
    assert right.index(1) <= 2  # it starts where the caller was when it was sent


async def test_the_recorder_records_the_echo_into_its_folder(tmp_path: Path) -> None:
    """AUDIO_HANDLER=recorder: the echo, each leg's two channels in RECORDER_DIR."""
    settings = RecorderSettings(recorder_dir=tmp_path, echo_delay_ms=0)
    async with CallTester(recorded_echo, settings=settings, call_uuid="leg") as tester:
        await tester.send_audio(b"".join(numbered(n) for n in range(1, 11)))
    assert tester.sent_frames == [numbered(n) for n in range(1, 11)]
    left, right = channels(tmp_path / "leg-1.wav")
    assert left == right == list(range(1, 11))
