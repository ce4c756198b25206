"""Fixtures: the test bot behind a real audio server, reached by a simulated call.

The answer route (a local webhook stub) connects each call to the in-process audio
server with the call's own uuid, so that the bot's ``hangup()`` reaches the
simulator's Voice REST API (the ``api`` fixture) and, through its link, the call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.audio import to_pcm16
from simulator.frontends.converse.main import converse as converse_in_workers
from simulator.frontends.converse.main import converse_here, voices
from simulator.frontends.converse.script import parse_script
from simulator.frontends.converse.session import ConverseOptions
from simulator.local_stack import ApiSettings
from simulator.reports.converse_report import ConverseReport
from simulator.setup import Setup
from simulator.speech import asr, tts
from simulator.vonage.webhook import Timeouts
from tests.audio_socket.helpers import mint, running
from tests.simulator.conftest import StartStack
from tests.simulator.fakes import SECRET, Reply, Request
from tests.simulator.frontends.converse.bot import LEVEL_DBFS, Bot
from tests.simulator.rest_api.helpers import APP_ID, KEY, TOKEN, Api

PROMPT_TEXT = "Your table is booked for dinner tonight."
Converse = Callable[..., AbstractAsyncContextManager[ConverseReport]]


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Spoken texts, made once for the whole session."""
    if not tts.espeak_available():
        pytest.skip("converse: espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def prompt(speech_cache: Path) -> bytes:
    """The bot's prompt at 16 kHz, its leading quiet trimmed: audible from its first frame."""
    samples = to_pcm16(tts.SpeechCache(speech_cache).speak(PROMPT_TEXT), 16000)
    level = 32768 * 10 ** (LEVEL_DBFS / 20)
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > level)
    return samples[int(loud[0]) * 320 :].tobytes()


@pytest.fixture
def needs_asr() -> None:
    """Skip without the recognizer, in one line; under CI=true its absence fails."""
    if asr.asr_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {asr.INSTALL_HINT}")
    pytest.skip("heard_contains: the offline recognizer is not installed (make setup)")


def _connect(uri: str, call_uuid: str, attempt: int) -> dict[str, Any]:
    return {
        "action": "connect",
        "eventType": "synchronous",
        "endpoint": [
            {
                "type": "websocket",
                "uri": uri,
                "content-type": "audio/l16;rate=16000",
                "headers": {"call_uuid": call_uuid, "attempt": attempt},
                "authorization": {"type": "custom", "value": f"Bearer {mint(call_uuid)}"},
            }
        ],
    }


@pytest.fixture
async def converse(
    start_stack: StartStack, api: Api, tmp_path: Path, speech_cache: Path
) -> Converse:
    """``converse(bot, turns, **options)``: the report of a scripted call to ``bot``."""
    stack = await start_stack(tls=False)
    answers: list[Request] = []

    @asynccontextmanager
    async def run(bot: Bot, turns: list[dict[str, Any]], **extra: Any) -> AsyncIterator[Any]:
        settings = {
            "vonage_application_id": APP_ID,
            "vonage_private_key": KEY,
            "vonage_api_host": api.host,
        }
        async with running(bot.handle, **settings) as server:
            uri = f"ws://127.0.0.1:{server.port}/socket"

            async def answer(request: Request) -> Reply:
                answers.append(request)
                return 200, [_connect(uri, request.fields()["uuid"], 1)]

            async def events(request: Request) -> Reply:
                fields = request.fields()
                if fields.get("status") != "disconnected":
                    return 204, None
                attempt = int(fields["headers"]["attempt"]) + 1
                return 200, [_connect(uri, fields["headers"]["call_uuid"], attempt)]

            stack.hooks.answer, stack.hooks.events = answer, events
            script = parse_script({"turns": turns}, tmp_path)
            options = ConverseOptions(
                _setup(stack.hooks.base_url, api, tmp_path),
                script,
                voices(script, speech_cache),
                **extra,
            )
            if options.workers == 1:
                yield await converse_here(options)
            else:  # worker processes; this loop keeps serving the bot meanwhile
                yield await asyncio.to_thread(converse_in_workers, options)

    return run


def _setup(base_url: str, api: Api, tmp_path: Path) -> Setup:
    return Setup(
        base_url=base_url,
        seconds=10.0,
        wav=None,
        secret=SECRET,
        cafile=None,
        timeouts=Timeouts(),
        api_key="key",
        application_id="app",
        get=False,
        instant_talk=True,
        api=ApiSettings(f"https://{api.host}", APP_ID, tmp_path / "ca.pem", TOKEN),
    )
