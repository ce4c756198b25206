"""The one pacing loop: frames on a 20 ms monotonic schedule, calls spread over ticks."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from simulator.audio import build_signal
from simulator.vonage.pacer import Pacer
from simulator.vonage.stream import TICKS_PER_FRAME, CallAudio


class Recorder:
    """A sink that records when each frame and text left."""

    def __init__(self, *, open_: bool = True) -> None:
        self.times: list[float] = []
        self.frames: list[bytes] = []
        self.texts: list[str] = []
        self.open = open_

    def send_frame(self, frame: bytes) -> bool:
        """Record a frame."""
        if self.open:
            self.times.append(time.monotonic())
            self.frames.append(frame)
        return self.open

    def send_text_now(self, text: str) -> bool:
        """Record a text message."""
        self.texts.append(text)
        return self.open

    def check_buffer(self) -> None:
        """Nothing to check."""


async def test_frames_leave_on_schedule() -> None:
    """Three calls: every frame sent once, in order, 20 ms apart, on distinct ticks."""
    pacer = Pacer()
    signal = build_signal(16000, 0.3)
    calls = [CallAudio(signal) for _ in range(3)]
    sinks = [Recorder() for _ in calls]
    try:
        for audio, sink in zip(calls, sinks, strict=True):
            audio.sink = sink
        await asyncio.wait_for(asyncio.gather(*(pacer.add(a) for a in calls)), timeout=5)
    finally:
        await pacer.close()
    for audio, sink in zip(calls, sinks, strict=True):
        assert sink.frames == signal.frames
        spacing = np.diff(sink.times)
        assert 0.018 < spacing.mean() < 0.022
        late = np.array(audio.sent_at) - (audio.due0 + np.arange(audio.n) * 0.02)
        assert late.min() >= -0.0005
        assert np.median(late) < 0.01
    ticks = {round((a.due0 - pacer.epoch) / 0.002) % TICKS_PER_FRAME for a in calls}
    assert len(ticks) == 3, "each call placed on its own tick"


async def test_frames_due_without_a_socket_are_skipped() -> None:
    """With no socket, due frames are not sent but the timeline moves on."""
    pacer = Pacer()
    audio = CallAudio(build_signal(8000, 0.1))
    closed = Recorder(open_=False)
    audio.sink = closed
    try:
        await asyncio.wait_for(pacer.add(audio), timeout=5)
    finally:
        await pacer.close()
    assert audio.done
    assert audio.sent_at == [0.0] * 5
    assert pacer.active == 0


async def test_dtmf_goes_out_along_the_way() -> None:
    """Key presses leave as websocket:dtmf text messages at their frame."""
    pacer = Pacer()
    audio = CallAudio(build_signal(8000, 0.1), dtmf=[(1, "5"), (3, "#")])
    sink = Recorder()
    audio.sink = sink
    try:
        await asyncio.wait_for(pacer.add(audio), timeout=5)
    finally:
        await pacer.close()
    assert sink.texts == [
        '{"event": "websocket:dtmf", "digit": "5", "duration": 260}',
        '{"event": "websocket:dtmf", "digit": "#", "duration": 260}',
    ]
    assert audio.dtmf_sent == [(1, "5"), (3, "#")]


async def test_remove_cancels() -> None:
    """A call taken off the schedule stops; its future is cancelled."""
    pacer = Pacer()
    audio = CallAudio(build_signal(8000, 10))
    audio.sink = Recorder()
    try:
        finished = pacer.add(audio)
        pacer.remove(audio)
        assert finished.cancelled()
        assert pacer.active == 0
    finally:
        await pacer.close()
