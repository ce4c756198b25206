"""Fixtures for the audio service tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from audio_socket.handlers.echo import echo
from audio_socket.handlers.settings import MenuSettings, PromptSettings, RecorderSettings
from audio_socket.server import AudioServer
from audio_socket.settings import AudioSettings
from tests.audio_socket.helpers import loaded, make_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the runner's own AUDIO_* and limit variables out of every test."""
    for settings in (AudioSettings, RecorderSettings, PromptSettings, MenuSettings):
        for name in settings.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def server() -> AsyncIterator[AudioServer]:
    """An echo server on a loopback port from the OS, stopped after the test."""
    async with AudioServer(make_settings(), loaded(echo)) as running:
        yield running


#: The modules whose tests run on each event loop the service may use.
_EVERY_LOOP_MODULES = frozenset({"test_server", "test_connection"})


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Socket tests run on asyncio's loop and on uvloop (the service's default when installed):
    the server relies on transport details (pause_reading, write_eof) that differ."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    module = getattr(item, "module", None)
    if module is not None and module.__name__.rpartition(".")[2] in _EVERY_LOOP_MODULES:
        try:
            import uvloop  # noqa: PLC0415 - optional
        except ImportError:
            return factories
        factories["uvloop"] = uvloop.new_event_loop
    return factories
