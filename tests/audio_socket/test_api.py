"""The public API as a user meets it: a light import, typed, and strict-clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

import audio_socket

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]

USER_HANDLER = '''\
"""A user's handler, written against the public API only."""

from __future__ import annotations

from audio_socket import Call, CallEnd, CallHandler, Dtmf, SpeechDetector, frame_dbfs
from audio_socket.testing import CallTester


async def greeter(call: Call) -> None:
    """Echo until the caller presses #, then hang up."""
    call.spawn(_hang_up_on_hash(call), name="keys")
    speech = SpeechDetector()
    async for frame in call.audio():
        if speech.update(frame) and frame_dbfs(frame) > -20.0:
            call.clear()
        call.send_audio(frame)


async def _hang_up_on_hash(call: Call) -> None:
    async for event in call.events():
        if isinstance(event, Dtmf) and event.digit == "#":
            if await call.played(timeout=2.0):
                await call.hangup()


class Counter(CallHandler):
    """The callback form: count frames, log at the end."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.frames = 0

    def on_audio(self, frame: bytes) -> None:
        self.frames += 1
        self.call.send_audio(frame)

    def on_end(self, end: CallEnd) -> None:
        print(self.frames, end.code)


async def check() -> None:
    """Its test, with the test double."""
    async with CallTester(greeter) as tester:
        await tester.send_dtmf("#")
        assert tester.requests[-1].action == "hangup"
'''


def test_import_loads_neither_numpy_nor_the_example_handlers() -> None:
    """``import audio_socket`` stays light: numpy and audio_socket.handlers load on use."""
    code = (
        "import json, sys; import audio_socket; "
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m == 'numpy' or m.startswith('audio_socket.handlers'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_the_package_ships_py_typed() -> None:
    """PEP 561: type checkers read the package's own annotations."""
    assert resources.files(audio_socket).joinpath("py.typed").is_file()


def test_every_public_name_is_importable() -> None:
    """``__all__`` names only what the package has."""
    assert all(hasattr(audio_socket, name) for name in audio_socket.__all__)


def test_a_user_handler_passes_mypy_strict(tmp_path: Path) -> None:
    """A handler of both forms and its test pass ``mypy --strict``, with no ``type: ignore``."""
    handler = tmp_path / "user_handler.py"
    handler.write_text(textwrap.dedent(USER_HANDLER))
    assert "type: ignore" not in handler.read_text()
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # --strict alone, not the project's own settings
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    argv = [
        *(sys.executable, "-m", "mypy", "--strict", "--config-file", str(config)),
        *("--cache-dir", str(tmp_path / "cache"), str(handler)),
    ]
    # From the repository root, where the package is found as an installed one would be
    # (mypy does not follow the editable install's import hook).
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
