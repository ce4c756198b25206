"""The browser phone in headless Chromium, against the real local stack through Caddy.

Debian's Chromium (never a downloaded browser) with a fake microphone playing a
WAV once (``%noloop``): the page frames it, paces it and streams it to the
simulator, which plays Vonage's side to the stack; the echo comes back and plays
through the page's jitter buffer, where it is recorded. The stack runs the
call-control handler, so a key press is seen to reach the handler: it answers
``4`` with a REST ``say`` and ``send_dtmf``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from simulator.frontends.phone.server import PhoneServer
from stack import Stack
from tests.browser.__main__ import CHROMIUM
from tests.browser.page import ARTEFACTS, FLAGS, browser_env, phone_server, write_stereo_wav
from tests.e2e.conftest import start_stack
from tests.e2e.control_handler import SAID_DTMF, SAY_TEXT

pytestmark = pytest.mark.e2e

WAV_SECONDS = 6.0
WAV_RATE = 44100
CALL_RATE = 16000


def speech_like(seconds: float, rate: int) -> npt.NDArray[np.float64]:
    """Band-limited noise under a syllable-rate envelope: one best alignment only."""
    rng = np.random.default_rng(15)
    noise = rng.standard_normal(round(seconds * rate))
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(noise.size, 1 / rate)
    spectrum[(freqs < 150) | (freqs > 3400)] = 0
    band = np.fft.irfft(spectrum, noise.size)
    t = np.arange(noise.size) / rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) * np.sin(2 * np.pi * 0.37 * t)
    signal: npt.NDArray[np.float64] = band / np.abs(band).max() * envelope * 0.5
    signal[: rate // 10] *= np.linspace(0, 1, rate // 10)
    return signal


def fractional_correlation(
    reference: npt.NDArray[np.float64], played: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """(best correlation, lag in samples) of ``played`` against ``reference``, lag fractional."""
    n = 1 << int(np.ceil(np.log2(reference.size + played.size)))
    cross = np.fft.irfft(np.fft.rfft(played, n) * np.conj(np.fft.rfft(reference, n)), n)
    k = int(np.argmax(cross))
    # Parabolic interpolation around the peak: the resampler's constant sub-sample delay.
    y0, y1, y2 = cross[k - 1], cross[k], cross[(k + 1) % n]
    lag = (k if k < n // 2 else k - n) + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    spectrum = np.fft.rfft(reference, n) * np.exp(-2j * np.pi * np.fft.rfftfreq(n) * lag)
    shifted = np.fft.irfft(spectrum, n)
    start, stop = max(0, int(np.ceil(lag)) + 1), min(played.size, reference.size + int(lag) - 1)
    a, b = shifted[start:stop], played[start:stop]
    return float(np.corrcoef(a, b)[0, 1]), lag


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica running the call-control handler (it echoes; ``4`` says and sends DTMF)."""
    started = start_stack(
        tmp_path_factory.mktemp("phone"),
        audio_replicas=1,
        AUDIO_HANDLER="tests.e2e.control_handler:ControlHandler",
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def phone(stack: Stack) -> AsyncIterator[PhoneServer]:
    """The phone's server on loopback, placing calls through Caddy with the REST API linked."""
    async with phone_server(stack) as server:
        yield server


@pytest.mark.timeout(300)
async def test_a_call_from_the_browser(phone: PhoneServer, tmp_path: Path) -> None:
    """Frames of the call's size at 50/s; the echo plays back as it was said; DTMF reaches
    the handler; Hang up ends the call; a screenshot is kept."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 (the tier's own)

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    mono = speech_like(WAV_SECONDS, WAV_RATE)
    wav = tmp_path / "microphone.wav"
    write_stereo_wav(wav, mono, WAV_RATE)
    home = tmp_path / "home"
    env = browser_env(home)
    args = [*FLAGS, f"--use-file-for-fake-audio-capture={wav}%noloop"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=args, env=env,
            headless=True, bypass_csp=True, viewport={"width": 900, "height": 760},
        )  # fmt: skip
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.goto(phone.url)
            await page.click("#call")
            await page.wait_for_function(
                "document.getElementById('status').textContent.startsWith('connected')",
                timeout=60_000,
            )
            # The whole file has been said and heard back, with room to spare.
            await page.wait_for_function(
                f"window.phone.heard > {round(WAV_SECONDS * 50) + 25}", timeout=60_000
            )
            # Then a key press: the handler answers it with a prompt, which is no echo.
            await page.click("#keypad button[data-digit='4']")
            entry = phone.phone.calls[0]
            deadline = time.monotonic() + 60
            while entry.call.record.api is None or not entry.call.record.api.dtmf:
                assert time.monotonic() < deadline, "the handler never answered the key press"
                await asyncio.sleep(0.1)
            await page.click("#hangup")
            await page.wait_for_function("window.phone.ended", timeout=30_000)
            recording = await page.evaluate("window.phone.recording()")
            await page.screenshot(path=str(ARTEFACTS / "phone.png"), full_page=True)
            status = await page.text_content("#status")
            dropped = await page.evaluate("window.phone.droppedSends")
            log = await page.text_content("#log")
        finally:
            await browser.close()

    audio = entry.audio
    report = entry.report
    assert report is not None
    # Frames where the simulator receives them: each of the call's size, 50 a second.
    assert audio.rate == CALL_RATE
    assert audio.wrong_size == 0
    assert {len(f) for f in audio.frames} == {640}
    arrived = np.array(audio.arrived_at)
    rate = (arrived.size - 1) / (arrived[-1] - arrived[0])
    gaps = np.diff(arrived)
    assert 49 <= rate <= 51, (
        f"{rate:.2f} frames/s from the page; intervals over 30 ms: {gaps[gaps > 0.03].round(3)}"
        f" at {np.flatnonzero(gaps > 0.03)} of {gaps.size}; page dropped {dropped}"
    )
    # The simulator's own echo check: every frame back byte-exact.
    assert report.passed, report.error
    assert report.echo.byte_exact
    assert report.frames.lost_outside_gaps == 0
    # The key press reached the handler, which answered through the REST API.
    assert report.rest_dtmf == [SAID_DTMF]
    assert SAY_TEXT in " ".join(report.rest_talks)
    assert "dtmf: 4" in (log or "")
    # Hang up ended the call: the caller hung up, Vonage posted completed.
    assert entry.hung_up_by_page
    assert report.ended_by == "caller"
    assert "completed" in [e["kind"] for e in report.events if "leg" not in e]
    assert status is not None
    assert status.startswith("call passed")
    # What the page played matches what the microphone said.
    reference = soxr.resample(mono, WAV_RATE, CALL_RATE, quality="HQ")
    played = np.frombuffer(base64.b64decode(recording["samples"]), "<f4").astype(np.float64)
    assert recording["rate"] == CALL_RATE
    write_stereo_wav(ARTEFACTS / "phone-heard.wav", played, CALL_RATE)
    correlation, lag = fractional_correlation(reference, played)
    underruns = recording["underruns"]
    figures = {
        "frames_per_s": round(rate, 3), "frames": int(arrived.size), "page_dropped": dropped,
        "correlation": round(correlation, 5), "lag_samples": round(lag, 3),
        "underruns": underruns, "round_trip_ms": report.round_trip_ms,
    }  # fmt: skip
    (ARTEFACTS / "phone.json").write_text(json.dumps(figures, indent=1) + "\n")
    assert correlation >= 0.99, (
        f"correlation {correlation:.4f} at lag {lag:.2f} samples ({underruns} underruns)"
    )
