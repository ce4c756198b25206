"""The paced playout: prompts at real time with a lead, queued, cleared, marked played."""

from __future__ import annotations

import asyncio
import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from audio_socket import CallControl, CallEnd, CallHandler
from audio_socket.errors import PromptError
from audio_socket.framing import AudioBytes
from audio_socket.playout import FRAME_SECONDS, PLAYED_KEY, Playout, PlayoutClock
from audio_socket.prompts import check_pcm, loader, read_wav, resample
from audio_socket.protocol import CallEvent, CallStart, Notified
from tests.audio_socket.helpers import eventually, open_call, running

FRAME = 640  # 16 kHz


class FakeSender:
    """The connection side: records each frame with the loop time it left."""

    def __init__(self) -> None:
        self.frames_out = 0
        self.paused = False
        self.open = True
        self.sent: list[tuple[float, bytes]] = []
        self.texts: list[dict[str, object]] = []

    def send_binary(self, data: AudioBytes) -> bool:
        if not self.open:
            return False
        self.sent.append((asyncio.get_running_loop().time(), bytes(data)))
        self.frames_out += 1
        return True

    def send_text(self, text: str) -> None:
        self.texts.append(json.loads(text))

    @property
    def audio(self) -> bytes:
        return b"".join(frame for _, frame in self.sent)


def prompt(frames: int, seed: int = 1) -> bytes:
    """Distinct frames: each one's bytes say which it is."""
    rng = np.random.default_rng(seed)
    return rng.integers(-3000, 3000, frames * FRAME // 2, dtype=np.int16).tobytes()


def max_lead(sent: list[tuple[float, bytes]]) -> float:
    """The most audio (s) the receiver held unplayed, playing each frame for 20 ms."""
    horizon, worst = 0.0, 0.0
    for at, _ in sent:
        horizon = max(horizon, at) + FRAME_SECONDS
        worst = max(worst, horizon - at)
    return worst


async def test_a_prompt_is_paced_with_its_lead() -> None:
    """Two seconds of prompt take about two seconds, never more than the lead ahead."""
    sender, clock = FakeSender(), PlayoutClock(0.1)
    playout = Playout(sender, FRAME, clock)
    audio = prompt(100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    q = playout.enqueue()
    playout.ready(q, audio)
    assert await q.done is True
    took = loop.time() - started
    assert sender.audio == audio
    assert 2.0 - 0.1 - 0.1 < took < 2.0 + 0.5  # 100 frames of 20 ms, less the lead
    assert max_lead(sender.sent) <= 0.1 + 2 * FRAME_SECONDS
    assert clock.playing == 0


async def test_plays_queue_in_order_and_the_tail_is_padded() -> None:
    """A second play waits for the first; a partial last frame is completed with silence."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    first, second = prompt(5, 1), prompt(3, 2)[:-100]
    a, b = playout.enqueue(), playout.enqueue()
    playout.ready(b, second)  # ready first, queued second
    playout.ready(a, first)
    assert list(await asyncio.gather(a.done, b.done)) == [True, True]
    assert sender.audio == first + second + bytes(100)
    assert all(len(frame) == FRAME for _, frame in sender.sent)


async def test_a_prompt_still_loading_holds_the_queue() -> None:
    """Nothing behind a prompt that is still being read goes out before it."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    a, b = playout.enqueue(), playout.enqueue()
    playout.ready(b, prompt(2, 2))
    await asyncio.sleep(0.1)
    assert sender.sent == []
    playout.ready(a, prompt(2, 1))
    await b.done
    assert sender.audio == prompt(2, 1) + prompt(2, 2)


async def test_clear_returns_plays_early_and_settles_played() -> None:
    """clear(): pending plays return False, pending played() is False, nothing more leaves."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    a, b = playout.enqueue(), playout.enqueue()
    playout.ready(a, prompt(200))
    playout.ready(b, prompt(10))
    mark = playout.played()
    await asyncio.sleep(0.2)
    playout.clear()
    assert list(await asyncio.gather(a.done, b.done, mark)) == [False, False, False]
    count = len(sender.sent)
    assert count < 200
    await asyncio.sleep(0.1)
    assert len(sender.sent) == count
    assert sender.texts == []  # the mark was still queued: its notify never left


async def test_played_sends_its_notify_after_the_prompt() -> None:
    """The mark's notify leaves after the last frame queued before it, and its answer is True."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    q = playout.enqueue()
    playout.ready(q, prompt(10))
    mark = playout.played()
    await q.done
    await asyncio.sleep(0.05)
    assert len(sender.texts) == 1
    payload = sender.texts[0]["payload"]
    assert isinstance(payload, dict)
    assert set(payload) == {PLAYED_KEY}
    assert sender.texts[0]["action"] == "notify"
    assert not mark.done()
    assert playout.answered({"other": 1}) is False
    assert playout.answered(payload) is True
    assert await mark is True


async def test_played_with_nothing_queued_notifies_at_once() -> None:
    """With no prompt queued the notify leaves now; a later answer covers earlier marks."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    first, second = playout.played(), playout.played()
    assert [t["payload"] for t in sender.texts] == [{PLAYED_KEY: 1}, {PLAYED_KEY: 2}]
    playout.answered({PLAYED_KEY: 2})
    assert list(await asyncio.gather(first, second)) == [True, True]


async def test_the_end_of_the_call_settles_everything() -> None:
    """close(): plays and marks are False; later plays return False at once."""
    sender, clock = FakeSender(), PlayoutClock(0.06)
    playout = Playout(sender, FRAME, clock)
    q = playout.enqueue()
    playout.ready(q, prompt(100))
    mark = playout.played()
    sender.open = False  # the socket is gone: the next send fails
    assert list(await asyncio.gather(q.done, mark)) == [False, False]
    later = playout.enqueue()
    assert later.done.result() is False
    assert playout.played().result() is False


async def test_send_audio_frames_count_against_the_lead() -> None:
    """Frames the handler sends itself slow the prompt down instead of piling up."""
    sender, clock = FakeSender(), PlayoutClock(0.1)
    playout = Playout(sender, FRAME, clock)
    q = playout.enqueue()
    playout.ready(q, prompt(50))
    for _ in range(20):  # an echo, one frame each 20 ms, alongside
        sender.send_binary(bytes(FRAME))
        await asyncio.sleep(FRAME_SECONDS)
    await q.done
    assert max_lead(sender.sent) <= 0.1 + 3 * FRAME_SECONDS


async def test_a_paused_transport_waits() -> None:
    """Above the transport's high-water mark the playout sends nothing more."""
    sender, clock = FakeSender(), PlayoutClock(0.2)
    playout = Playout(sender, FRAME, clock)
    sender.paused = True
    q = playout.enqueue()
    playout.ready(q, prompt(20))
    await asyncio.sleep(0.1)
    assert sender.sent == []
    sender.paused = False
    assert await q.done is True


async def test_one_clock_paces_many_calls() -> None:
    """Fifty calls share one timer; each gets its prompt whole and in time."""
    clock = PlayoutClock(0.06)
    senders = [FakeSender() for _ in range(50)]
    playouts = [Playout(s, FRAME, clock) for s in senders]
    queued = [p.enqueue() for p in playouts]
    for p, q in zip(playouts, queued, strict=True):
        p.ready(q, prompt(25))
    assert clock.playing == 50
    assert all(await asyncio.gather(*(q.done for q in queued)))
    assert all(s.audio == prompt(25) for s in senders)
    assert all(max_lead(s.sent) <= 0.06 + 3 * FRAME_SECONDS for s in senders)


def test_the_lead_is_at_least_a_frame() -> None:
    """A lead below one frame could never send anything."""
    with pytest.raises(ValueError, match="at least one frame"):
        PlayoutClock(0.01)


# Prompts: formats and resampling (prompts.py)


def write_wav(path: Path, rate: int, samples: np.ndarray, width: int = 2) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1] if samples.ndim == 2 else 1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.astype(f"<i{width}").tobytes())


def test_read_wav_mixes_and_resamples(tmp_path: Path) -> None:
    """A 44.1 kHz stereo WAV becomes 16 kHz mono of the same length and pitch."""
    t = np.arange(44100) / 44100
    tone = np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path = tmp_path / "tone.wav"
    write_wav(path, 44100, np.stack([tone, tone], axis=1))
    pcm = np.frombuffer(read_wav(path, 16000), "<i2")
    assert abs(len(pcm) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    assert abs(int(np.argmax(spectrum)) * 16000 / len(pcm) - 440) < 3
    assert 7000 < np.abs(pcm).max() < 9000


def test_read_wav_refuses_what_it_cannot_play(tmp_path: Path) -> None:
    """A missing file or a non-WAV is a PromptError naming the file."""
    with pytest.raises(PromptError, match=r"missing\.wav"):
        read_wav(tmp_path / "missing.wav", 16000)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(PromptError, match=r"junk\.wav: cannot read"):
        read_wav(junk, 16000)


def test_resample_checks_its_input() -> None:
    """Odd byte counts and absurd rates are refused before anything is queued."""
    with pytest.raises(PromptError, match="even number"):
        check_pcm(b"\x00\x01\x02", None)
    with pytest.raises(PromptError, match="rate must be"):
        check_pcm(b"\x00\x01", 10)
    pcm = resample(prompt(50), 8000, 16000)
    assert math.isclose(len(pcm), 2 * 50 * FRAME, rel_tol=0.01)


# Through a real socket: the server, its clock and the call's controls


class PromptHandler(CallHandler):
    """Plays a long prompt, then waits for it to be played; records what it sees."""

    def __init__(self, audio: bytes) -> None:
        self.audio = audio
        self.events: list[CallEvent] = []
        self.results: list[bool] = []
        self.task: asyncio.Task[None] | None = None

    def on_start(self, call: CallControl, start: CallStart) -> None:
        self.task = asyncio.create_task(self._run(call))

    async def _run(self, call: CallControl) -> None:
        call.notify({"mine": 1})  # a notify of the handler's own reaches on_event
        self.results.append(await call.play(self.audio))
        self.results.append(await call.played())

    def on_event(self, event: CallEvent) -> None:
        self.events.append(event)

    async def on_end(self, end: CallEnd) -> None:
        if self.task is not None:
            await self.task


async def test_a_prompt_five_times_the_buffer_is_paced_not_aborted() -> None:
    """Ten seconds (320 KB, five OUTBOUND_BUFFER_BYTES) arrive at real time, whole."""
    audio = prompt(500)
    handler = PromptHandler(audio)
    async with running(lambda: handler, outbound_buffer_bytes=65536) as server:
        async with open_call(server.port) as ws:
            received: list[tuple[float, bytes]] = []
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(30):
                while len(received) < 500:
                    message = await ws.recv()
                    if isinstance(message, str):
                        data = json.loads(message)
                        await ws.send(json.dumps({"event": "websocket:notify", **data}))
                        continue
                    received.append((loop.time(), message))
                notify = json.loads(await ws.recv())  # the played() mark, after the prompt
                await ws.send(json.dumps({"event": "websocket:notify", **notify}))
                await eventually(lambda: len(handler.results) == 2)
        assert b"".join(frame for _, frame in received) == audio
        took = received[-1][0] - received[0][0]
        assert 9.5 < took < 11.0
        lead = server.settings.playout_lead_ms / 1000
        assert max_lead(received) <= lead + 3 * FRAME_SECONDS
        assert notify["payload"] == {PLAYED_KEY: 1}
    assert handler.results == [True, True]
    assert handler.events == [Notified({"mine": 1})]  # ours, not the played() mark


async def test_play_of_a_wav_file_at_another_rate(tmp_path: Path) -> None:
    """A 44.1 kHz WAV is read and resampled off the loop, and played at the call's rate."""
    path = tmp_path / "prompt.wav"
    write_wav(path, 44100, np.full(44100 // 5, 1000, np.int16))  # 200 ms
    results: list[bool] = []

    class WavHandler(CallHandler):
        async def on_start(self, call: CallControl, start: CallStart) -> None:
            results.append(await call.play(path))

    async with running(WavHandler) as server, open_call(server.port, rate=8000) as ws:
        frames = [await asyncio.wait_for(ws.recv(), 10) for _ in range(10)]
        await eventually(lambda: results == [True])
    assert all(isinstance(f, bytes) and len(f) == 320 for f in frames)


async def test_a_bad_prompt_is_a_prompt_error() -> None:
    """Odd-sized PCM raises at once; an unreadable WAV raises from the await."""
    raised: list[str] = []

    class BadHandler(CallHandler):
        async def on_start(self, call: CallControl, start: CallStart) -> None:
            try:
                call.play(b"\x00" * 3)
            except PromptError as exc:
                raised.append(str(exc))
            try:
                await call.play("/nonexistent.wav")
            except PromptError as exc:
                raised.append(str(exc))
            try:
                call.play("/some.wav", rate=8000)
            except PromptError as exc:
                raised.append(str(exc))

    async with running(BadHandler) as server, open_call(server.port):
        await eventually(lambda: len(raised) == 3)
    assert "even number" in raised[0]
    assert "nonexistent.wav" in raised[1]
    assert "a WAV file says its own rate" in raised[2]


async def test_resampling_a_long_prompt_does_not_hold_up_the_loop() -> None:
    """Five minutes at 44.1 kHz are resampled in a worker thread: the loop keeps ticking."""
    pcm = np.random.default_rng(1).integers(-3000, 3000, 44100 * 300, dtype=np.int16).tobytes()
    loop = asyncio.get_running_loop()
    worst, done = 0.0, False

    async def probe() -> None:
        nonlocal worst
        while not done:
            before = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - before - 0.005)

    probing = asyncio.create_task(probe())
    started = loop.time()
    out = await loop.run_in_executor(None, loader(pcm, 44100, 16000))
    took = loop.time() - started
    done = True
    await probing
    assert abs(len(out) - 2 * 16000 * 300) <= 4
    assert worst < max(0.05, took / 2), (worst, took)  # blocked, it would be all of it


async def test_a_handler_notify_cannot_use_the_reserved_key() -> None:
    """notify() with played()'s key is refused before anything is sent."""
    refused: list[str] = []

    class Sneaky(CallHandler):
        def on_start(self, call: CallControl, start: CallStart) -> None:
            try:
                call.notify({PLAYED_KEY: 1})
            except ValueError as exc:
                refused.append(str(exc))

    async with running(Sneaky) as server, open_call(server.port):
        await eventually(lambda: bool(refused))
    assert "reserved" in refused[0]
