"""Talking to the voice bot from the browser phone, as ``make run-bot`` then ``make phone``.

The stack's replica runs the offline voice bot (examples/voice-bot/); Chromium's fake
microphone says one sentence, spoken by flite (a voice other than the bot's), once; the
bot greets, then answers "You said: ...". What the page played is transcribed offline
and must carry the answer.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from simulator.frontends.phone.server import PhoneServer
from simulator.speech.asr import transcribe, words
from stack import Stack
from tests.browser.__main__ import CHROMIUM
from tests.browser.page import ARTEFACTS, FLAGS, browser_env, phone_server, write_stereo_wav
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

SAID = "please book a table for two"
CALL_RATE = 16000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica running the voice bot, offline."""
    started = start_stack(
        tmp_path_factory.mktemp("phone-bot"),
        audio_replicas=1,
        AUDIO_HANDLER="voice_bot:voice_bot",
        HF_HUB_OFFLINE="1",
        ORT_DISABLE_TELEMETRY="1",
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def phone(stack: Stack) -> AsyncIterator[PhoneServer]:
    """The phone's server, placing calls through Caddy."""
    async with phone_server(stack) as server:
        yield server


def spoken(text: str, folder: Path) -> Path:
    """``text`` said by flite's awb voice, then a second of quiet: the microphone's file."""
    raw = folder / "flite.wav"
    subprocess.run(["flite", "-voice", "awb", "-t", text, "-o", str(raw)], check=True)
    with wave.open(str(raw), "rb") as wav:
        rate = wav.getframerate()
        mono = np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0
    quiet = np.zeros(rate)
    microphone = folder / "microphone.wav"
    write_stereo_wav(microphone, np.concatenate([quiet, mono, quiet]), rate)
    return microphone


def answered_turns(stack: Stack) -> float:
    """Turns the bot answered so far, from its replica's /metrics."""
    replica = stack.replicas[0]
    text = httpx.get(f"http://{replica.address}:{replica.port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('bot_turns_total{outcome="answered"}'):
            return float(line.split()[-1])
    return 0.0


async def heard_to_the_end(page: Any, before: int) -> None:
    """Until the page heard 1 s of audio more than ``before``, then none for 1.5 s."""
    deadline = time.monotonic() + 60
    last, still = before, time.monotonic()
    while True:
        heard = await page.evaluate("window.phone.heard")
        if heard != last:
            last, still = heard, time.monotonic()
        elif heard >= before + 50 and time.monotonic() - still > 1.5:
            return
        assert time.monotonic() < deadline, f"heard {heard - before} frames of the answer"
        await asyncio.sleep(0.25)


@pytest.mark.timeout(300)
async def test_the_bot_answers_the_browser(
    stack: Stack, phone: PhoneServer, tmp_path: Path
) -> None:
    """The caller's sentence comes back in the bot's "You said", heard in the page."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 (the tier's own)

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    microphone = spoken(SAID, tmp_path)
    args = [*FLAGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=args,
            env=browser_env(tmp_path / "home"), headless=True, bypass_csp=True,
        )  # fmt: skip
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.goto(phone.url)
            await page.click("#call")
            await page.wait_for_function(
                "document.getElementById('status').textContent.startsWith('connected')",
                timeout=60_000,
            )
            deadline = time.monotonic() + 60
            while await asyncio.to_thread(answered_turns, stack) < 1:
                assert time.monotonic() < deadline, "the bot answered no turn"
                await asyncio.sleep(0.2)
            # The answer is on its way: the page hears it to its end (frames stop coming).
            await heard_to_the_end(page, await page.evaluate("window.phone.heard"))
            await page.click("#hangup")
            await page.wait_for_function("window.phone.ended", timeout=30_000)
            recording = await page.evaluate("window.phone.recording()")
            await page.screenshot(path=str(ARTEFACTS / "phone-bot.png"), full_page=True)
        finally:
            await browser.close()
    assert recording["rate"] == CALL_RATE
    played = np.frombuffer(base64.b64decode(recording["samples"]), "<f4")
    samples = np.round(np.clip(played, -1, 1) * 32767).astype(np.int16)
    heard_words = words(await asyncio.to_thread(transcribe, samples, CALL_RATE))
    text = " ".join(heard_words)
    assert "you said" in text, text
    assert {"book", "table"} <= set(heard_words), text
