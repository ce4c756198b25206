"""audio_socket.testing: the CallTester plays Vonage's side of a call on its own clock."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from audio_socket import Call, CallControlError, CallEvent, Cleared, Dtmf, Notified
from audio_socket.testing import CallTester, Request

FRAME = 640  # 16 kHz


def numbered(n: int) -> bytes:
    """A frame whose bytes identify it."""
    return bytes([n]) * FRAME


def over(tester: CallTester) -> bool:
    """Whether the call has ended."""
    return tester.ended is not None


class Recorder:
    """A coroutine handler that keeps what it was given, and runs a script first."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.events: list[CallEvent] = []
        self.results: list[object] = []

    async def __call__(self, call: Call) -> None:
        call.spawn(self._events(call))
        async for frame in call.audio():
            self.frames.append(frame)

    async def _events(self, call: Call) -> None:
        async for event in call.events():
            self.events.append(event)


async def test_frames_reach_the_handler_one_a_tick() -> None:
    """Bytes become frames (the last padded); advance sends silence when none are queued."""
    recorder = Recorder()
    async with CallTester(recorder.__call__) as tester:
        await tester.send_audio(numbered(1) + numbered(2) + b"\x03" * 10)
        assert tester.now == pytest.approx(0.06)
        await tester.advance(0.04)
    assert (
        recorder.frames
        == [numbered(1), numbered(2), b"\x03" * 10 + bytes(FRAME - 10)] + [bytes(FRAME)] * 2
    )


async def test_a_wav_file_is_the_callers_voice(tmp_path: Path) -> None:
    """A 16-bit mono WAV file is sent a frame a tick; at another rate, resampled first."""
    frames = [numbered(n) for n in range(1, 6)]
    for rate in (16000, 8000):
        path = tmp_path / f"hello-{rate}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(b"".join(frames)[: len(frames) * FRAME * rate // 16000])
        recorder = Recorder()
        async with CallTester(recorder.__call__) as tester:
            await tester.send_audio(path)
        assert len(recorder.frames) == 5
        if rate == 16000:
            assert recorder.frames == frames


async def test_dtmf_and_the_answers_to_clear_and_notify() -> None:
    """Digits arrive as Dtmf; clear() is answered Cleared, notify() Notified once heard."""
    recorder = Recorder()
    async with CallTester(recorder.__call__) as tester:
        await tester.send_dtmf("4#")
        tester.call.play(numbered(9) * 3)
        tester.call.notify({"step": 1})
        await tester.advance(0.04)
        assert recorder.events == [Dtmf("4", 1), Dtmf("#", 1)]  # not heard yet
        await tester.advance(0.02)
        tester.call.clear()
        await tester.advance(0.02)
    assert recorder.events[2:] == [Notified({"step": 1}), Cleared()]
    assert tester.controls == [("notify", {"step": 1}), ("clear",)]
    assert tester.sent_frames == [numbered(9)] * 3


async def test_the_clock_paces_play_and_answers_played() -> None:
    """play() sends 50 frames a second of the tester's clock; played() follows it."""
    results: list[bool] = []

    async def handler(call: Call) -> None:
        results.append(await call.play(b"".join(numbered(n) for n in range(50))))
        results.append(await call.played())

    async with CallTester(handler) as tester:
        await tester.advance(0.5)
        assert len(tester.sent_frames) == 25
        assert results == []
        await tester.advance(0.52)
    assert results == [True, True]
    assert tester.sent_frames == [numbered(n) for n in range(50)]
    assert tester.sent_pcm == b"".join(tester.sent_frames)
    assert tester.sent_seconds == pytest.approx(1.0)


async def test_dropped_notify_answers_time_played_out() -> None:
    """drop_notify_answers=True: played() is False after its default timeout, not before."""
    results: list[bool] = []

    async def handler(call: Call) -> None:
        await call.play(numbered(1) * 50)  # 1 s
        results.append(await call.played())

    async with CallTester(handler, drop_notify_answers=True) as tester:
        await tester.advance(1.0)  # the prompt has played
        await tester.advance(1.9)
        assert results == []
        await tester.advance(0.2)  # the default: what was still to play, plus 2 s
    assert results == [False]


async def test_a_failed_request_raises_in_the_handler() -> None:
    """fail_request("hangup"): the handler's hangup raises CallControlError; the call goes on."""
    errors: list[CallControlError] = []

    async def handler(call: Call) -> None:
        async for _ in call.events():
            try:
                await call.hangup()
            except CallControlError as exc:
                errors.append(exc)
                await call.say("sorry")

    async with CallTester(handler) as tester:
        tester.fail_request("hangup")
        await tester.send_dtmf("1")
        assert not over(tester)
        await tester.send_dtmf("1")
        assert over(tester)  # an accepted hangup ends the call
    assert [e.status for e in errors] == [500]
    assert tester.requests == [
        Request("hangup"),
        Request("say", ("sorry", None)),
        Request("hangup"),
    ]


async def test_a_handler_error_is_raised_at_the_end_of_the_test() -> None:
    """The call ends with 1011, as on the server; leaving the ``async with`` raises it."""

    async def handler(call: Call) -> None:
        async for _ in call.audio():
            raise ValueError("bug")

    tester = CallTester(handler)
    with pytest.raises(ValueError, match="bug"):
        async with tester:
            await tester.advance(0.02)
    assert tester.ended is not None
    assert tester.ended.code == 1011
