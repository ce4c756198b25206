"""The handlers, driven through a recording CallControl: no sockets."""

from __future__ import annotations

import asyncio
import functools
import statistics
import textwrap
from pathlib import Path

import pytest

from audio_socket.handlers import (
    CallHandler,
    DelayedEchoHandler,
    EchoHandler,
    base,
    describe_handler,
    resolve_handler_factory,
)
from audio_socket.protocol import Dtmf, UnknownEvent
from tests.audio_socket.recording import END, START, RecordingCall


def frame(n: int, size: int = 640) -> bytes:
    """A frame whose bytes identify it."""
    return bytes([n % 256]) * size


async def test_base_handler_does_nothing() -> None:
    """Every method of the base class is a no-op returning None."""
    handler = CallHandler()
    call = RecordingCall()
    assert handler.on_start(call, START) is None
    assert handler.on_audio(frame(1)) is None
    assert handler.on_event(Dtmf("1")) is None
    assert handler.on_end(END) is None
    assert call.sent == []


async def test_echo_sends_every_frame_back_in_order() -> None:
    """The echo returns each frame at once, byte-exact, in order."""
    handler, call = EchoHandler(), RecordingCall()
    handler.on_start(call, START)
    frames = [frame(n) for n in range(50)]
    for f in frames:
        handler.on_audio(f)
    assert call.frames == frames


async def test_echo_ignores_events() -> None:
    """DTMF and unknown events are not echoed."""
    handler, call = EchoHandler(), RecordingCall()
    handler.on_start(call, START)
    handler.on_event(Dtmf("5", 260))
    handler.on_event(UnknownEvent("websocket:whatever"))
    assert call.sent == []
    assert call.controls == []


async def test_echo_before_start_is_harmless() -> None:
    """A frame before on_start is dropped rather than raising."""
    EchoHandler().on_audio(frame(1))


async def test_delayed_echo_sends_after_the_delay() -> None:
    """Each frame leaves no earlier than its arrival plus the delay, in order."""
    delay = 0.06
    loop = asyncio.get_running_loop()
    handler, call = DelayedEchoHandler(int(delay * 1000)), RecordingCall()
    handler.on_start(call, START)
    arrivals = []
    for n in range(10):
        arrivals.append(loop.time())
        handler.on_audio(frame(n))
        await asyncio.sleep(0.02)
    await asyncio.sleep(delay + 0.1)
    assert call.frames == [frame(n) for n in range(10)]
    lags = [sent - arrived for (sent, _), arrived in zip(call.sent, arrivals, strict=True)]
    assert min(lags) >= delay - 0.002
    # Loose upper bound: a loaded machine fires timers late, never early.
    assert statistics.median(lags) < delay + 0.1


async def test_delayed_echo_keeps_a_burst_in_order() -> None:
    """Frames arriving together leave together, after the delay, in order."""
    handler, call = DelayedEchoHandler(30), RecordingCall()
    handler.on_start(call, START)
    for n in range(5):
        handler.on_audio(frame(n))
    assert call.sent == []
    await asyncio.sleep(0.2)
    assert call.frames == [frame(n) for n in range(5)]


async def test_delayed_echo_drops_the_queue_at_call_end() -> None:
    """After on_end nothing more is sent: the caller is gone."""
    handler, call = DelayedEchoHandler(30), RecordingCall()
    handler.on_start(call, START)
    handler.on_audio(frame(1))
    handler.on_end(END)
    await asyncio.sleep(0.1)
    assert call.sent == []


def test_delayed_echo_needs_a_positive_delay() -> None:
    """A zero delay is the plain echo, not a delayed one."""
    with pytest.raises(ValueError, match="delay_ms"):
        DelayedEchoHandler(0)


def test_echo_is_the_default_handler() -> None:
    """AUDIO_HANDLER=echo with no delay selects the echo."""
    assert resolve_handler_factory("echo", 0) is EchoHandler


def test_echo_delay_selects_the_delayed_echo() -> None:
    """ECHO_DELAY_MS > 0 turns the built-in echo into the delayed echo."""
    factory = resolve_handler_factory("echo", 250)
    assert isinstance(factory, functools.partial)
    handler = factory()
    assert isinstance(handler, DelayedEchoHandler)


def test_handler_described_as_configured() -> None:
    """The words logs and the banner use for AUDIO_HANDLER and ECHO_DELAY_MS."""
    assert describe_handler("echo", 0) == "echo"
    assert describe_handler("echo", 200) == "delayed echo (200 ms)"
    assert describe_handler("loudness:LoudnessHandler", 200) == "loudness:LoudnessHandler"


def test_custom_handler_by_module_and_factory() -> None:
    """AUDIO_HANDLER=module:factory names any importable callable."""
    factory = resolve_handler_factory("tests.audio_socket.custom_handler:make_handler", 0)
    handler = factory()
    assert type(handler).__name__ == "ControlHandler"


async def test_documented_example_handler_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example in handlers/base.py's docstring is a working third handler."""
    doc = base.__doc__ or ""
    start = doc.index("    # loudness.py")
    end = doc.index("    # AUDIO_HANDLER=")
    (tmp_path / "loudness.py").write_text(textwrap.dedent(doc[start:end]))
    monkeypatch.syspath_prepend(str(tmp_path))
    handler = resolve_handler_factory("loudness:LoudnessHandler", 0)()
    call = RecordingCall()
    handler.on_start(call, START)
    handler.on_audio(b"\x10\x00" * 320)
    handler.on_end(END)
    assert call.frames == [b"\x10\x00" * 320]


def test_custom_handler_may_be_a_nested_attribute() -> None:
    """A dotted attribute path after the colon is followed."""
    factory = resolve_handler_factory("audio_socket.handlers:EchoHandler.__call__", 0)
    assert callable(factory)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("echoes", "expected 'echo', 'recorder', 'barge_in', 'menu' or module:factory"),
        ("module_only:", "expected"),
        (":factory", "expected"),
        ("no_such_module_here:factory", "cannot import 'no_such_module_here'"),
        ("audio_socket.handlers:missing", "is not a callable"),
        ("audio_socket.handlers:BUILT_IN", "is not a callable"),
    ],
)
def test_bad_handler_specs_say_what_is_wrong(spec: str, message: str) -> None:
    """An unusable AUDIO_HANDLER is a ValueError with a readable message."""
    with pytest.raises(ValueError, match=message):
        resolve_handler_factory(spec, 0)
