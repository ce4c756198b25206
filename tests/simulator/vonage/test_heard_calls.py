"""Simulated calls to a real audio server: paced prompts, played(), clear, the examples.

The simulator plays Vonage's side, its playout buffer included (``playout.py``);
the audio server is the real one, in this process, with the handler under test.
Bounds are loose (a loaded 2-core machine); ``make bench`` has the exact figures.
"""

from __future__ import annotations

import asyncio
import os
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audio_socket import Call as HandlerCall
from audio_socket import CallEnd, CallHandler
from audio_socket.handlers.barge_in import BargeInHandler
from audio_socket.handlers.echo import echo
from audio_socket.handlers.menu import menu
from audio_socket.handlers.recorder import RecordingHandler
from audio_socket.protocol import CallStart
from audio_socket.server import AudioServer
from simulator.audio import FRAME_MS, Pcm, read_stamp
from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report
from simulator.reports.heard import AUDIO, heard_samples
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions, CallRecord
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import Timeouts, WebhookClient
from tests.audio_socket.helpers import mint, running
from tests.simulator.conftest import StartStack
from tests.simulator.fakes import SECRET, Reply, Request

CALL_UUID = "c-1"


@dataclass
class Placed:
    """One simulated call: its raw record, its report, the server it reached."""

    record: CallRecord
    report: CallReport
    server: AudioServer


PlaceCall = Callable[..., Awaitable[Placed]]


@pytest.fixture
async def place(start_stack: StartStack) -> PlaceCall:
    """Place a call from the simulator to a real audio server running ``handler``."""

    @asynccontextmanager
    async def serving(handler: object, **settings: object) -> AsyncIterator[str]:
        async with running(handler, **settings) as server:
            uri = f"ws://127.0.0.1:{server.port}/socket"

            async def answer(_request: Request) -> Reply:
                return 200, [
                    {
                        "action": "connect",
                        "from": "447700900000",
                        "eventType": "synchronous",
                        "eventUrl": [f"{stack.hooks.base_url}/webhooks/events"],
                        "endpoint": [
                            {
                                "type": "websocket",
                                "uri": uri,
                                "content-type": "audio/l16;rate=16000",
                                "headers": {"call_uuid": CALL_UUID, "attempt": 1},
                                "authorization": {
                                    "type": "custom",
                                    "value": f"Bearer {mint(CALL_UUID)}",
                                },
                            }
                        ],
                    }
                ]

            stack.hooks.answer = answer
            holder.append(server)
            yield stack.hooks.base_url

    stack = await start_stack(tls=False)
    holder: list[AudioServer] = []

    async def place_call(
        handler: object,
        seconds: float,
        *,
        expect: str = AUDIO,
        wav: Pcm | None = None,
        dtmf: str = "",
        **settings: object,
    ) -> Placed:
        async with serving(handler, **settings) as base_url:
            signer = Signer(SECRET, "key", "app")
            webhooks = WebhookClient(client_ssl_context(None), signer, Timeouts())
            pacer = Pacer()
            context = CallContext(webhooks, pacer, SignalCache(seconds, wav), signer)
            options = CallOptions(base_url, seconds, instant_talk=True, dtmf=dtmf, keep_audio=True)
            try:
                record = await Call(options, context).run()
            finally:
                await pacer.close()
                await webhooks.aclose()
            return Placed(record, build_report(record, expect), holder[-1])

    return place_call


class Prompter(CallHandler):
    """Plays one prompt; optionally clears it after ``clear_after`` seconds."""

    def __init__(self, seconds: float, clear_after: float | None = None) -> None:
        self.prompt = _tone(seconds)
        self.clear_after = clear_after
        self.results: list[bool] = []
        self.started = self.played_at = 0.0
        self.task: asyncio.Task[None] | None = None

    def on_start(self, call: HandlerCall, start: CallStart) -> None:
        self.task = asyncio.create_task(self._run(call))

    async def _run(self, call: HandlerCall) -> None:
        loop = asyncio.get_running_loop()
        if self.clear_after is not None:
            loop.call_later(self.clear_after, call.clear)
        self.started = loop.time()
        playing = call.play(self.prompt)
        played = call.played()  # pending while the prompt plays: a clear makes it False
        self.results.append(await playing)
        self.results.append(await played)
        self.played_at = loop.time()

    async def on_end(self, end: CallEnd) -> None:
        if self.task is not None:
            await self.task


def _tone(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(6000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


async def test_a_30_s_prompt_in_one_play_is_paced(place: PlaceCall) -> None:
    """Vonage's buffer never holds more than the lead plus three frames; nothing aborts."""
    handler = Prompter(30.0)
    placed = await place(lambda: handler, 31.5)
    heard = placed.report.heard
    assert placed.report.passed, placed.report.error
    lead_ms = placed.server.settings.playout_lead_ms
    assert heard.max_buffered_ms <= lead_ms + 3 * FRAME_MS
    assert heard.overflowed == 0
    assert len(placed.record.legs) == 1  # no abort, no reconnect
    assert 29.9 <= heard.audible_s <= 30.02
    assert handler.results == [True, True]


async def test_played_after_a_10_s_prompt_resolves_at_about_10_s(place: PlaceCall) -> None:
    """played() comes back when the simulator has played the last frame: 10 s, not at once."""
    handler = Prompter(10.0)
    placed = await place(lambda: handler, 11.5)
    assert handler.results == [True, True]
    took = handler.played_at - handler.started
    assert abs(took - 10.0) <= 0.25, took
    [notify] = placed.report.heard.notifies
    assert notify["answered_s"] is not None


async def test_clear_at_3_s_stops_the_prompt_at_once(place: PlaceCall) -> None:
    """After the simulator received the clear, the caller heard nothing of the prompt."""
    handler = Prompter(10.0, clear_after=3.0)
    placed = await place(lambda: handler, 5.0)
    heard = placed.report.heard
    [clear] = heard.clears
    assert clear["heard_after_ms"] == 0.0
    assert clear["dropped_frames"] <= placed.server.settings.playout_lead_ms / FRAME_MS + 3
    audio = [s for s in heard.timeline if s["heard"] == "audio"]
    assert float(str(audio[-1]["to_s"])) <= clear["at_s"] + 0.001
    assert 2.5 < heard.audible_s < 3.5
    assert handler.results == [False, False]  # play() returned early, played() is False


async def test_the_recording_lines_up_with_what_was_sent_and_heard(
    place: PlaceCall, tmp_path: Path
) -> None:
    """Left: the caller's frames in order; right: the echo at the same positions."""
    folder = tmp_path / "recordings"
    placed = await place(lambda call: RecordingHandler(call, echo, folder), 2.0, expect="echo")
    assert placed.report.passed, placed.report.error
    assert os.listdir(folder) == [f"{CALL_UUID}-1.wav"]  # one file per leg
    with wave.open(str(folder / f"{CALL_UUID}-1.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16000)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    size = 320  # samples per frame at 16 kHz
    left = [stereo[i : i + size, 0].tobytes() for i in range(0, len(stereo) - size + 1, size)]
    right = [stereo[i : i + size, 1].tobytes() for i in range(0, len(stereo) - size + 1, size)]
    assert [read_stamp(frame) for frame in left] == list(range(100))  # what the caller sent
    assert right == left  # the echo, each frame where the caller's was
    # ... and what the simulator's caller heard is those same frames, in that order.
    audio = placed.record.audio
    assert audio is not None
    heard = heard_samples(audio.playout, 16000, placed.record.started_at, placed.record.ended_at)
    start = int(np.flatnonzero(heard)[0])
    assert heard[start : start + 320].tobytes() == right[0]


async def test_barge_in_stops_the_prompt_when_the_caller_speaks(place: PlaceCall) -> None:
    """Silence for 2 s, then speech: the prompt stops within 100 ms (loose here: 250)."""
    rate = 16000
    t = np.arange(2 * rate) / rate
    speech = 0.25 * np.sin(2 * np.pi * 440 * t)
    caller = Pcm(rate, np.concatenate([np.zeros(2 * rate), speech])[:, None])
    made: list[BargeInHandler] = []

    def barge_in(call: HandlerCall) -> BargeInHandler:
        made.append(BargeInHandler(call))
        return made[-1]

    placed = await place(barge_in, 4.0, wav=caller)
    [handler] = made
    audio = placed.record.audio
    assert audio is not None
    onset = audio.sent_at[100]  # the first frame of speech left the simulated caller
    [(cleared_at, _)] = audio.playout.clears
    assert 0.0 < cleared_at - onset < 0.25, cleared_at - onset
    assert audio.playout.heard_after(cleared_at) == 0.0
    assert handler.barge_ins == 1
    assert 1.5 < placed.report.heard.audible_s < 2.5  # the prompt, until the caller spoke


async def test_the_menu_answers_digits_and_says_why_it_cannot_hang_up(
    place: PlaceCall, caplog: pytest.LogCaptureFixture
) -> None:
    """3 answers with beeps; # without call control plays the error tone and logs why."""
    placed = await place(menu, 3.0, dtmf="3#")
    assert placed.report.passed, placed.report.error
    assert placed.report.heard.audible_s > 1.0
    assert any("VONAGE_APPLICATION_ID" in str(getattr(r, "error", "")) for r in caplog.records), (
        "the log says call control is not configured"
    )
    assert len(placed.record.legs) == 1  # the socket was not closed: no reconnect
