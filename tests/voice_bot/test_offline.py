"""No network: the bot loads, listens, recognises and speaks in a network namespace of its own.

The process runs under ``unshare -n``: no interface but a loopback that is down, so any
attempt to reach a model hub fails. It runs as root (CI runs as root); elsewhere it
tries an unprivileged user namespace, and skips only when neither works outside CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.voice_bot.helpers import Speak, require_speech

PROGRAM = """
import socket, sys, wave
import numpy as np
from voice_bot.models import start_loading
from voice_bot.speech import synthesise, transcribe
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    sys.exit("the network is reachable: the test proves nothing")
except OSError:
    pass
runtime = start_loading(1).result(timeout=120)
with wave.open(sys.argv[1], "rb") as wav:
    pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
text, _ = transcribe(runtime.models, pcm, 16000)
spoken, _ = synthesise(runtime.models, "You said: " + text, 8000)
print(text if spoken else "")
"""


def isolated() -> list[str]:
    """The prefix that runs a command without network, or a skip (a failure under CI)."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
        return prefix
    if os.environ.get("CI") == "true":
        pytest.fail("unshare -n is refused here, and CI must prove the bot needs no network")
    pytest.skip("no network namespace without root here (unshare -n / -rn refused)")


def test_a_transcription_needs_no_network(speak: Speak, tmp_path: Path) -> None:
    """Load, warm, recognise and synthesise with no network at all, and no HF_HUB_OFFLINE
    given: the models come from the wheels."""
    require_speech()
    path = tmp_path / "caller.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(speak("Please transfer me to the billing department."))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    done = subprocess.run(
        [*isolated(), sys.executable, "-c", PROGRAM, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "billing department" in done.stdout.lower(), done.stdout
