"""The simulator's model of Vonage's playout buffer, and what the caller heard."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from simulator.reports.heard import AUDIO, SILENCE, TALK, UNDERRUN, heard_samples, timeline
from simulator.vonage.playout import CAPACITY, FRAME_SECONDS, Playout

F = FRAME_SECONDS
LOUD = b"\x01\x02" * 320
QUIET = bytes(640)


def replies(playout: Playout) -> list[dict[str, object]]:
    """Collect what the model answers."""
    sent: list[dict[str, object]] = []

    def reply(text: str) -> bool:
        sent.append(json.loads(text))
        return True

    playout.reply = reply
    return sent


def test_audio_sent_at_once_plays_at_real_time() -> None:
    """Ten frames in one burst play one after another, 200 ms in all."""
    playout = Playout()
    for _ in range(10):
        playout.push(100.0, LOUD, True)
    assert len(playout.segments) == 1
    assert playout.segments[0].end == pytest.approx(100.0 + 10 * F)
    assert playout.max_buffered == pytest.approx(10 * F)
    assert playout.heard == playout.heard_audible == 10


def test_real_time_audio_keeps_the_buffer_at_one_frame() -> None:
    """Frames arriving every 20 ms (a little jitter) never queue more than one frame."""
    playout = Playout()
    for i in range(100):
        playout.push(100.0 + i * F + (0.003 if i % 2 else 0.0), LOUD, True)
    assert len(playout.segments) == 1
    assert playout.max_buffered <= F + 0.0031


def test_overflow_drops_and_counts() -> None:
    """Past 3,072 frames queued, frames are dropped and counted."""
    playout = Playout()
    for _ in range(CAPACITY + 5):
        playout.push(100.0, LOUD, True)
    assert playout.overflowed == 5
    assert len(playout.frames) == CAPACITY
    assert playout.end == pytest.approx(100.0 + CAPACITY * F)


def test_clear_stops_at_once_and_is_answered() -> None:
    """A clear at 1 s into 5 s of audio: 4 s dropped, nothing heard after it."""
    playout = Playout()
    sent = replies(playout)
    for _ in range(250):
        playout.push(100.0, LOUD, True)
    assert playout.control(101.0, '{"action":"clear"}') is True
    assert sent == [{"event": "websocket:cleared"}]
    assert playout.clears == [(101.0, 200)]
    assert playout.heard == 50
    assert playout.heard_after(101.0) == 0.0
    playout.push(101.5, LOUD, True)  # new audio after the clear plays
    assert playout.heard_after(101.0) == pytest.approx(F)


async def test_notify_is_answered_when_its_audio_has_played() -> None:
    """A notify after 300 ms of audio is answered about 300 ms later, not at once."""
    playout = Playout()
    sent = replies(playout)
    now = time.monotonic()
    for _ in range(15):
        playout.push(now, LOUD, True)
    playout.control(now, '{"action":"notify","payload":{"n":1}}')
    assert sent == []
    async with asyncio.timeout(5):
        while not sent:  # noqa: ASYNC110 - the model's own timer answers
            await asyncio.sleep(0.01)
    asked, answered = playout.notifies[0]
    assert answered is not None
    assert 0.29 <= answered - asked < 0.6
    assert sent == [{"event": "websocket:notify", "payload": {"n": 1}}]


async def test_a_clear_answers_waiting_notifies_after_cleared() -> None:
    """A notify still waiting when a clear comes is answered right after websocket:cleared."""
    playout = Playout()
    sent = replies(playout)
    now = time.monotonic()
    for _ in range(100):
        playout.push(now, LOUD, True)
    playout.notify(now, {"n": 2})
    playout.clear(now + 0.1)
    assert sent == [
        {"event": "websocket:cleared"},
        {"event": "websocket:notify", "payload": {"n": 2}},
    ]
    await asyncio.sleep(2.2)  # past when the cancelled timer was due: nothing more
    assert len(sent) == 2


def test_other_text_is_not_a_control() -> None:
    """Anything but clear and notify is left to the socket."""
    playout = Playout()
    assert playout.control(0.0, '{"event":"something"}') is False
    assert playout.control(0.0, '{"action":"dance"}') is False
    assert playout.control(0.0, '{"action": broken') is False


def test_the_timeline_says_what_the_caller_heard() -> None:
    """Talk, silence, audio, an underrun, silent frames, cut by a clear."""
    playout = Playout(keep=True)
    origin = 100.0
    for i in range(50):  # 1 s of audio from 2 s
        playout.push(origin + 2.0 + i * F, LOUD, True)
    for i in range(25):  # a 100 ms underrun, then 0.5 s of silent frames
        playout.push(origin + 3.1 + i * F, QUIET, False)
    for _ in range(100):  # then 2 s at once, cleared after 0.5 s
        playout.push(origin + 3.6, LOUD, True)
    playout.clear(origin + 4.1)
    spans = timeline(playout, origin, origin + 5.0, [(origin, origin + 1.5, "hello")])
    kinds = [(s.heard, round(s.from_s, 2), round(s.to_s, 2)) for s in spans]
    assert kinds == [
        (TALK, 0.0, 1.5),
        (SILENCE, 1.5, 2.0),
        (AUDIO, 2.0, 3.0),
        (UNDERRUN, 3.0, 3.1),
        (SILENCE, 3.1, 3.6),
        (AUDIO, 3.6, 4.1),
        (SILENCE, 4.1, 5.0),
    ]
    assert spans[0].text == "hello"


def test_heard_samples_place_frames_at_their_real_time() -> None:
    """The WAV of what was heard has silence where nothing played and stops at the clear."""
    playout = Playout(keep=True)
    for _ in range(10):
        playout.push(100.5, LOUD, True)
    playout.clear(100.6)
    samples = heard_samples(playout, 16000, 100.0, 101.0)
    assert len(samples) == 16000
    loud = np.flatnonzero(samples)
    assert loud[0] == 8000  # 0.5 s
    assert loud[-1] < 9600  # 0.6 s: nothing after the clear
    assert loud[-1] >= 9590
