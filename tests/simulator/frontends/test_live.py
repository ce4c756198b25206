"""The live caller (frontends/phone/live.py): frames stamped as they come, matched when they
come back, and Vonage's playout passing on what the caller hears when it plays."""

from __future__ import annotations

import asyncio
import json
import time

from simulator.audio import Signal, read_stamp
from simulator.frontends.phone.live import AHEAD_FRAMES, MATCH_FRAMES, LiveAudio, LivePlayout
from simulator.vonage.playout import FRAME_SECONDS


class Sink:
    """A socket that is open and records what it was given."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.texts: list[str] = []

    def send_frame(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    def send_text_now(self, text: str) -> bool:
        self.texts.append(text)
        return True

    def check_buffer(self) -> None:
        pass


def connected(audio: LiveAudio, rate: int = 16000) -> Sink:
    """What the call flow does at connect: the rate, then the socket."""
    audio.use_signal(Signal(rate, []))
    sink = Sink()
    audio.sink = sink
    return sink


def test_frames_before_the_rate_or_of_the_wrong_size_are_refused() -> None:
    """No rate yet, or a frame not of the rate's size: refused and counted."""
    rates: list[int] = []
    audio = LiveAudio(on_rate=rates.append)
    assert audio.feed(bytes(640)) == "audio before the call's rate was sent"
    connected(audio)
    assert rates == [16000]
    assert audio.feed(bytes(320)) == "frame of 320 bytes; 16000 Hz frames are 640"
    assert audio.wrong_size == 1
    assert audio.n == 0


def test_frames_at_the_rate_before_a_reconnect_changed_it_are_dropped() -> None:
    """The page needs a moment to switch rates: its last old frames are not an error."""
    audio = LiveAudio()
    connected(audio, 16000)
    audio.use_signal(Signal(8000, []))
    assert audio.feed(bytes(640)) is None
    assert audio.n == 0
    assert audio.feed(bytes(320)) is None
    assert audio.n == 1


def test_a_source_faster_than_real_time_is_refused() -> None:
    """A second's burst is taken (a stall caught up); a flood is not."""
    audio = LiveAudio()
    connected(audio)
    results = [audio.feed(bytes(640)) for _ in range(AHEAD_FRAMES + 5)]
    assert results[: AHEAD_FRAMES + 1] == [None] * (AHEAD_FRAMES + 1)
    problem = results[-1]
    assert problem is not None
    assert problem.startswith("frames faster than real time")


def test_only_the_last_minute_of_frames_is_kept_for_matching() -> None:
    """Memory stays bounded however long the call: old frames are forgotten."""
    audio = LiveAudio()
    connected(audio)
    for i in range(MATCH_FRAMES + 10):
        audio.arrived_at[:1] = [time.monotonic() - i]  # keep the source at real time
        assert audio.feed(bytes(640)) is None
    assert len(audio.index) == MATCH_FRAMES
    assert audio.frames[9] == b""


def test_each_frame_is_stamped_sent_and_its_echo_matched() -> None:
    """Silence too: every frame differs, goes to the socket, and its echo is matched."""
    audio = LiveAudio()
    sink = connected(audio)
    for _ in range(3):
        assert audio.feed(bytes(640)) is None
    assert [read_stamp(f) for f in sink.frames] == [0, 1, 2]
    assert len(set(sink.frames)) == 3
    assert audio.sent == 3
    assert all(audio.sent_at)
    for frame in sink.frames:
        audio.on_audio(frame)
    assert audio.unmatched == 0
    assert all(audio.recv_at)
    assert audio.last_matched == 2


def test_frames_while_no_socket_is_open_are_the_gap() -> None:
    """Before the first socket opens they are not the call's; between two legs they are
    numbered but not sent."""
    audio = LiveAudio()
    audio.use_signal(Signal(16000, []))
    assert audio.feed(bytes(640)) is None
    assert audio.n == 0
    audio.sink = Sink()
    assert audio.feed(bytes(640)) is None
    audio.sink = None
    assert audio.feed(bytes(640)) is None
    assert audio.n == 2
    assert audio.sent == 1
    assert audio.sent_at[1] == 0.0


def test_a_key_press_and_the_hang_up() -> None:
    """DTMF goes out as websocket:dtmf; after a hang up the pacer ends the stream."""
    audio = LiveAudio()
    assert not audio.press("5")
    sink = connected(audio)
    assert audio.press("5")
    assert json.loads(sink.texts[0]) == {"event": "websocket:dtmf", "digit": "5", "duration": 260}
    assert not audio.send_due(0)
    audio.hang_up()
    assert audio.send_due(1)
    assert audio.feed(bytes(640)) is None
    assert audio.n == 0


async def test_playout_passes_on_frames_when_they_play() -> None:
    """An echo goes on at once; a burst plays out at 20 ms a frame; clear drops the rest."""
    playout = LivePlayout()
    heard: list[tuple[float, bytes]] = []
    done = asyncio.Event()

    def listen(frame: bytes) -> None:
        heard.append((time.monotonic(), frame))
        if len(heard) == 3:
            done.set()

    playout.listener = listen
    start = time.monotonic()
    for i in range(3):  # three frames at once, as a prompt sent faster than real time
        playout.push(start, bytes([i + 1]) * 640, True)
    assert len(heard) == 1  # the first plays at once
    await asyncio.wait_for(done.wait(), 5)
    assert [f[0] for _, f in heard] == [1, 2, 3]
    assert heard[2][0] - start >= 2 * FRAME_SECONDS - 0.005
    await asyncio.sleep(playout.end - time.monotonic() + 2 * FRAME_SECONDS)  # ran dry
    now = time.monotonic()
    for _ in range(3):
        playout.push(now, bytes([9]) * 640, True)
    playout.clear(now)
    await asyncio.sleep(5 * FRAME_SECONDS)
    assert len(heard) == 4  # only the one that started playing before the clear
