"""Fixtures for the audio service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from audio_socket.handlers import EchoHandler
from audio_socket.server import AudioServer
from audio_socket.settings import AudioSettings
from tests.audio_socket.helpers import make_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the runner's own AUDIO_* and limit variables out of every test."""
    for name in AudioSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def server() -> AsyncIterator[AudioServer]:
    """An echo server on a loopback port from the OS, stopped after the test."""
    async with AudioServer(make_settings(), EchoHandler) as running:
        yield running
