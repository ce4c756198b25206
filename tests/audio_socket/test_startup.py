"""A handler's startup hook: awaited before the service listens, with the handler's settings."""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from audio_socket import Call, on_startup, with_settings
from tests.audio_socket.helpers import echo_round, open_call, running

SEEN: list[object] = []


class Greeting(BaseSettings):
    """A setting the hook reads."""

    word: str = "hello"


async def load(settings: Greeting) -> None:
    """Stands in for loading models: records what it was given."""
    SEEN.append(settings.word)


@on_startup(load)
@with_settings(Greeting)
async def echo(call: Call) -> None:
    """The echo, in the coroutine form."""
    async for frame in call.audio():
        call.send_audio(frame)


async def test_the_hook_runs_before_the_first_call() -> None:
    """The hook ran, once, with the settings, before the server took a call."""
    SEEN.clear()
    async with running(echo) as server:
        assert SEEN == ["hello"]
        async with open_call(server.port) as ws:
            assert await echo_round(ws, [b"\x01" * 640]) == [b"\x01" * 640]
    assert SEEN == ["hello"]


async def broken(settings: object) -> None:
    """A hook that cannot start."""
    raise RuntimeError("no model here")


@on_startup(broken)
async def unstartable(call: Call) -> None:
    """Never runs: its startup fails."""


async def test_a_failing_hook_stops_start_up() -> None:
    """The hook's exception reaches whoever starts the server: nothing listens."""
    with pytest.raises(RuntimeError, match="no model here"):
        async with running(unstartable):
            pass
