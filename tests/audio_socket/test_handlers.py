"""The echo handlers and AUDIO_HANDLER's names, driven by the CallTester: no sockets."""

from __future__ import annotations

import asyncio
import statistics
import textwrap
from pathlib import Path

import pytest

import audio_socket
from app_credentials import ConfigurationError
from audio_socket import CallEnd, CallHandler
from audio_socket.errors import Outcome
from audio_socket.handlers import describe_handler
from audio_socket.handlers.delayed_echo import DelayedEchoHandler
from audio_socket.handlers.echo import EchoHandler, echo
from audio_socket.loading import load_handler
from audio_socket.protocol import Dtmf, UnknownEvent
from audio_socket.testing import CallTester
from tests.audio_socket.helpers import eventually

END = CallEnd(1000, "", Outcome.COMPLETED)


def frame(n: int, size: int = 640) -> bytes:
    """A frame whose bytes identify it."""
    return bytes([n % 256]) * size


async def test_base_handler_does_nothing() -> None:
    """Every method of the base class is a no-op returning None."""
    handler = CallHandler()
    async with CallTester(CallHandler) as tester:
        call = tester.call
        assert handler.on_start(call, call.start) is None
        assert handler.on_audio(frame(1)) is None
        assert handler.on_event(Dtmf("1")) is None
        assert handler.on_end(END) is None
    assert tester.sent_frames == []


async def test_echo_sends_every_frame_back_in_order() -> None:
    """The echo returns each frame at once, byte-exact, in order."""
    frames = [frame(n) for n in range(50)]
    async with CallTester(EchoHandler) as tester:
        await tester.send_audio(b"".join(frames))
    assert tester.sent_frames == frames


async def test_echo_ignores_events() -> None:
    """DTMF and unknown events are not echoed."""
    async with CallTester(EchoHandler) as tester:
        await tester.send_event(Dtmf("5", 260))
        await tester.send_event(UnknownEvent("websocket:whatever"))
    assert tester.sent_frames == []
    assert tester.controls == []


async def test_echo_sends_from_its_first_line() -> None:
    """The call is there from the constructor: a frame before on_start is echoed."""
    tester = CallTester(EchoHandler)
    EchoHandler(tester.call).on_audio(frame(1))
    assert tester.sent_frames == [frame(1)]


def stamped(tester: CallTester, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each frame reached the caller, on the event loop's clock."""
    loop, heard, times = asyncio.get_running_loop(), tester.heard_frame, []

    def stamp(data: bytes) -> None:
        times.append(loop.time())
        heard(data)

    monkeypatch.setattr(tester, "heard_frame", stamp)
    return times


async def test_delayed_echo_sends_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each frame leaves no earlier than its arrival plus the delay, in order."""
    delay = 0.06
    loop = asyncio.get_running_loop()
    tester = CallTester(CallHandler)
    sent = stamped(tester, monkeypatch)
    handler = DelayedEchoHandler(tester.call, int(delay * 1000))
    arrivals = []
    for n in range(10):
        arrivals.append(loop.time())
        handler.on_audio(frame(n))
        await asyncio.sleep(0.02)  # the caller's real-time pace is what is measured
    await eventually(lambda: len(sent) == 10)
    assert tester.sent_frames == [frame(n) for n in range(10)]
    lags = [s - a for s, a in zip(sent, arrivals, strict=True)]
    assert min(lags) >= delay - 0.002
    # Loose upper bound: a loaded machine fires timers late, never early.
    assert statistics.median(lags) < delay + 0.1


async def test_delayed_echo_keeps_a_burst_in_order() -> None:
    """Frames arriving together leave together, after the delay, in order."""
    tester = CallTester(CallHandler)
    handler = DelayedEchoHandler(tester.call, 30)
    for n in range(5):
        handler.on_audio(frame(n))
    assert tester.sent_frames == []
    await eventually(lambda: len(tester.sent_frames) == 5)
    assert tester.sent_frames == [frame(n) for n in range(5)]


async def test_delayed_echo_drops_the_queue_at_call_end() -> None:
    """After on_end nothing more is sent: the caller is gone."""
    tester = CallTester(CallHandler)
    handler = DelayedEchoHandler(tester.call, 30)
    handler.on_audio(frame(1))
    handler.on_end(END)
    await asyncio.sleep(0.1)  # three times the delay: the frame would have left by now
    assert tester.sent_frames == []


def test_delayed_echo_needs_a_positive_delay() -> None:
    """A zero delay is the plain echo, not a delayed one."""
    with pytest.raises(ValueError, match="delay_ms"):
        DelayedEchoHandler(CallTester(CallHandler).call, 0)


async def test_echo_is_the_default_handler() -> None:
    """AUDIO_HANDLER=echo with no delay is the echo, described as such."""
    loaded = load_handler("echo")
    assert (loaded.form, loaded.description) == ("callback", "echo")
    assert type(loaded.new(CallTester(CallHandler).call)) is EchoHandler


async def test_echo_delay_selects_the_delayed_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECHO_DELAY_MS > 0 turns the built-in echo into the delayed echo."""
    monkeypatch.setenv("ECHO_DELAY_MS", "250")
    loaded = load_handler("echo")
    assert loaded.settings.echo_delay_ms == 250
    assert loaded.description == "delayed echo (250 ms)"
    async with CallTester(echo) as tester:
        assert isinstance(loaded.new(tester.call), DelayedEchoHandler)
        await tester.send_audio(frame(1))
        assert tester.sent_frames == []  # 250 ms of real time later
        await eventually(lambda: tester.sent_frames == [frame(1)])


def test_handler_described_as_configured() -> None:
    """The words logs and the banner use for AUDIO_HANDLER and ECHO_DELAY_MS."""
    assert describe_handler("echo", 0) == "echo"
    assert describe_handler("echo", 200) == "delayed echo (200 ms)"
    assert describe_handler("loudness:LoudnessHandler", 200) == "loudness:LoudnessHandler"


async def test_custom_handler_by_module_and_factory() -> None:
    """AUDIO_HANDLER=module:factory names any importable callable."""
    loaded = load_handler("tests.audio_socket.custom_handler:make_handler")
    assert type(loaded.new(CallTester(CallHandler).call)).__name__ == "ControlHandler"


async def test_documented_example_handler_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example in the package's docstring is a working handler: it echoes."""
    doc = audio_socket.__doc__ or ""
    start = doc.index("    from audio_socket import Call")
    end = doc.index("    # AUDIO_HANDLER=")
    (tmp_path / "mymodule.py").write_text(textwrap.dedent(doc[start:end]))
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_handler("mymodule:handler")
    assert loaded.form == "coroutine"
    async with CallTester(loaded.new) as tester:
        await tester.send_audio(b"\x10\x00" * 320)
    assert tester.sent_frames == [b"\x10\x00" * 320]


def test_custom_handler_may_be_a_nested_attribute() -> None:
    """A dotted attribute path after the colon is followed."""
    loaded = load_handler("tests.audio_socket.custom_handler:FACTORIES.make_handler")
    assert loaded.form == "callback"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("echoes", "expected 'echo', 'recorder', 'barge_in', 'menu' or module:attribute"),
        ("module_only:", "expected"),
        (":factory", "expected"),
        ("no_such_module_here:factory", "cannot import 'no_such_module_here'"),
        ("audio_socket.handlers:missing", "has no attribute 'missing'"),
        ("audio_socket.handlers:BUILT_IN", r"is not a handler class.*\(found str\)"),
    ],
)
def test_bad_handler_specs_say_what_is_wrong(spec: str, message: str) -> None:
    """An unusable AUDIO_HANDLER is a ConfigurationError naming it, with a readable message."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_handler(spec)
    [(variable, _)] = caught.value.problems
    assert variable == "AUDIO_HANDLER"
