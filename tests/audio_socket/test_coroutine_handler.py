"""The coroutine form, call.spawn, close_socket and played(timeout=) through the real server."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from audio_socket import Call, CallEnd, CallHandler, Dtmf
from audio_socket.call import SocketCall
from audio_socket.call_base import AUDIO_INBOX_FRAMES
from audio_socket.errors import Outcome
from audio_socket.server import AudioServer
from tests.audio_socket.helpers import (
    calls_with,
    close_of,
    connected_message,
    echo_round,
    eventually,
    mint,
    open_call,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)

FRAME = bytes(range(256)) * 2 + bytes(128)


def dtmf(digit: str) -> str:
    """A DTMF event as Vonage sends it."""
    return json.dumps({"event": "websocket:dtmf", "digit": digit, "duration": 100})


def only_call(server: AudioServer) -> SocketCall:
    """The server's one live call."""
    [call] = server._calls
    return call


def frames_in(server: AudioServer) -> int:
    """Frames the server read, over its live calls."""
    return sum(call.frames_in for call in server._calls)


async def echo(call: Call) -> None:
    """The echo in the coroutine form."""
    async for frame in call.audio():
        call.send_audio(frame)


async def test_a_coroutine_handler_echoes_through_audio() -> None:
    """``async for frame in call.audio()`` gets each frame; what it sends comes back."""
    async with running(echo) as server, open_call(server.port) as ws:
        frames = [bytes([n]) * 640 for n in range(20)]
        assert await echo_round(ws, frames) == frames


async def test_events_yields_dtmf() -> None:
    """``call.events()`` yields the caller's digits, in order."""
    digits: list[str] = []

    async def handler(call: Call) -> None:
        async for event in call.events():
            if isinstance(event, Dtmf):
                digits.append(event.digit)

    async with running(handler) as server, open_call(server.port) as ws:
        for digit in "12#":
            await ws.send(dtmf(digit))
        await eventually(lambda: digits == ["1", "2", "#"])


async def test_returning_ends_the_handler_not_the_call() -> None:
    """The socket stays open after the coroutine returns; later frames are read and dropped."""
    returned = asyncio.Event()

    async def handler(call: Call) -> None:
        async for frame in call.audio():
            call.send_audio(frame)
            break
        returned.set()

    async with running(handler) as server, open_call(server.port) as ws:
        assert await echo_round(ws, [FRAME]) == [FRAME]
        await returned.wait()
        for _ in range(5):
            await ws.send(FRAME)
        await eventually(lambda: frames_in(server) == 6)
        assert ws.state is State.OPEN
        assert only_call(server).frames_out == 1


async def test_an_exception_closes_the_call_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    """A coroutine that raises fails its call: 1011, logged with the call's uuid."""

    async def handler(call: Call) -> None:
        async for _ in call.audio():
            raise RuntimeError("handler bug")

    async with running(handler) as server, open_call(server.port, "failing") as ws:
        await ws.send(FRAME)
        assert await close_of(ws) == (1011, "internal error")
    [record] = [r for r in caplog.records if r.getMessage() == "call handler failed"]
    assert vars(record)["call_uuid"] == "failing"


async def test_unread_audio_is_bounded_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that never reads call.audio() holds at most 50 frames; one log line says so."""

    async def handler(call: Call) -> None:
        async for _ in call.events():
            pass

    with caplog.at_level(logging.DEBUG, "audio_socket"):
        async with running(handler) as server, open_call(server.port) as ws:
            for _ in range(AUDIO_INBOX_FRAMES + 30):
                await ws.send(FRAME)
            await eventually(lambda: frames_in(server) == AUDIO_INBOX_FRAMES + 30)
            assert AUDIO_INBOX_FRAMES == 50
            assert only_call(server).frames_dropped == 30
    lines = [r for r in caplog.records if r.getMessage().startswith("handler not reading")]
    assert len(lines) == 1
    assert vars(lines[0])["what"] == "audio"


async def test_spawned_tasks_are_cancelled_before_on_end() -> None:
    """The call's end cancels its tasks first; on_end runs after their cleanup."""
    order: list[str] = []

    class Handler(CallHandler):
        def __init__(self, call: Call) -> None:
            call.spawn(self._forever(), name="forever")

        async def _forever(self) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                order.append("task cancelled")
                raise

        def on_end(self, end: CallEnd) -> None:
            order.append("on_end")

    async with running(Handler) as server:
        async with open_call(server.port) as ws:
            await ws.send(FRAME)
            await eventually(lambda: frames_in(server) == 1)
        await eventually(lambda: "on_end" in order)
    assert order == ["task cancelled", "on_end"]


async def test_a_spawned_task_that_raises_fails_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its exception is logged with the call's uuid and closes the call with 1011."""

    async def fail() -> None:
        raise RuntimeError("task bug")

    class Handler(CallHandler):
        def on_start(self, call: Call, start: object) -> None:
            call.spawn(fail())

    async with running(Handler) as server, open_call(server.port, "spawner") as ws:
        assert await close_of(ws) == (1011, "internal error")
    [record] = [r for r in caplog.records if r.getMessage() == "call handler failed"]
    assert vars(record)["call_uuid"] == "spawner"
    assert "task bug" in caplog.text
    await eventually(lambda: calls_with(server, Outcome.FAILED) == 1)


async def test_a_drain_closes_a_coroutine_call_1001_and_cancels_its_tasks() -> None:
    """close_calls (the drain's end) closes with 1001; the coroutine and its tasks stop."""
    cancelled: list[str] = []

    async def side() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("task")
            raise

    async def handler(call: Call) -> None:
        call.spawn(side())
        async for frame in call.audio():
            call.send_audio(frame)
        cancelled.append("audio ended")

    async with running(handler) as server, open_call(server.port) as ws:
        await echo_round(ws, [FRAME])
        closing = asyncio.ensure_future(server.close_calls())
        assert await close_of(ws) == (1001, "server draining")
        await closing
        await eventually(lambda: len(cancelled) == 2)
    assert sorted(cancelled) == ["audio ended", "task"]
    assert calls_with(server, Outcome.DRAINED) == 1


async def test_a_later_attempt_supersedes_a_coroutine_call() -> None:
    """Attempt 2 closes attempt 1's socket with 1000 superseded; attempt 2 echoes."""
    async with running(echo) as server:
        async with open_socket(server.port, mint(attempt=1)) as first:
            await first.send(connected_message())
            await echo_round(first, [FRAME])
            async with open_socket(server.port, mint(attempt=2)) as second:
                assert await close_of(first) == (1000, "superseded")
                await second.send(connected_message(attempt=2))
                assert await echo_round(second, [FRAME]) == [FRAME]
        await eventually(lambda: calls_with(server, Outcome.SUPERSEDED) == 1)


async def closing_with(method: str, ws: ClientConnection, called: list[Call]) -> None:
    """Have the handler close its socket through ``method`` on the first frame."""
    await ws.send(FRAME)
    await eventually(lambda: bool(called))
    getattr(called[0], method)(reason="bye")


@pytest.mark.parametrize(("method", "warns"), [("close", True), ("close_socket", False)])
async def test_close_is_deprecated_close_socket_is_not(method: str, warns: bool) -> None:
    """Both close the socket (1000); only the old name warns DeprecationWarning."""
    called: list[Call] = []

    async def handler(call: Call) -> None:
        called.append(call)
        async for _ in call.audio():
            pass

    async with running(handler) as server, open_call(server.port) as ws:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await closing_with(method, ws, called)
        assert await close_of(ws) == (1000, "bye")
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == (1 if warns else 0)
    if warns:
        assert "close_socket()" in str(deprecations[0].message)


async def test_played_gives_up_after_its_timeout_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer that never answers notify: played(timeout=) is False in time, logged once."""
    results: list[bool] = []

    async def handler(call: Call) -> None:
        await call.play(bytes(640 * 3))
        results.append(await call.played(timeout=0.2))
        results.append(await call.played(timeout=0.2))

    with caplog.at_level(logging.WARNING, "audio_socket"):
        async with running(handler) as server, open_call(server.port) as ws:
            notifies = 0
            while notifies < 2:  # the prompt's frames, then the unanswered notifies
                message = await asyncio.wait_for(ws.recv(), 10)
                notifies += isinstance(message, str) and '"notify"' in message
            await eventually(lambda: len(results) == 2)
    assert results == [False, False]
    timeouts = [r for r in caplog.records if r.getMessage().startswith("played(): no notify")]
    assert len(timeouts) == 1
    assert vars(timeouts[0])["timeout_s"] == 0.2
