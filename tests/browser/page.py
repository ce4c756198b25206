"""What the browser tests share: Chromium's flags, the fake microphone's file, the phone."""

from __future__ import annotations

import os
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simulator.frontends.phone.server import Phone, PhoneServer
from simulator.net import client_ssl_context
from simulator.rest_api.link import ApiLink
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient
from stack import Stack

ARTEFACTS = Path(os.environ.get("BROWSER_ARTEFACTS", "test-artefacts"))
#: Chromium 156's headless flags on this kind of machine, with a fake microphone.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]  # fmt: skip


def write_stereo_wav(path: Path, mono: npt.NDArray[np.float64], rate: int) -> None:
    """The fake microphone's file: 16-bit stereo, as Chromium's fake device reads."""
    ints = np.round(mono * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(ints, 2).tobytes())


def browser_env(home: Path) -> dict[str, str | float | bool]:
    """This environment, with Chromium's profile folders under ``home``."""
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


@asynccontextmanager
async def phone_server(stack: Stack) -> AsyncIterator[PhoneServer]:
    """The phone's server on loopback, placing calls through Caddy with the REST API linked."""
    files = stack.voice_api_files
    assert files is not None
    link = ApiLink(
        f"https://{stack.voice_api_host}", stack.voice_api_token, client_ssl_context(files.ca)
    )
    await link.open()
    signer = Signer(stack.secrets.vonage_signature_secret)
    webhooks = WebhookClient(client_ssl_context(stack.cafile), signer)
    server = PhoneServer(Phone(stack.base_url, webhooks, signer, api_link=link, instant_talk=True))
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        await webhooks.aclose()
        await link.close()
