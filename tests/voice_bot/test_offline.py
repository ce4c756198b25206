"""No network: the bot needs none, and uses none where there is one.

- Under ``unshare -n`` (no interface but a loopback that is down) the bot loads,
  recognises and speaks: nothing it needs is fetched. It runs as root (CI runs as
  root); elsewhere it tries an unprivileged user namespace, and skips only when
  neither works outside CI.
- With the network there, ``strace`` watches the process for 12 s after the models
  loaded: onnxruntime 1.32's telemetry resolves mobile.events.data.microsoft.com
  about 7 s after its first session unless ``ORT_DISABLE_TELEMETRY`` is set, which
  the bot does. Nothing is written under ``$HOME`` either (its device id).
"""

from __future__ import annotations

import os
import shutil
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


WATCH = """
import sys, time
from voice_bot.models import start_loading
from voice_bot.speech import synthesise, transcribe
import numpy as np
runtime = start_loading(1).result(timeout=120)
transcribe(runtime.models, np.zeros(16000, np.float32), 16000)
synthesise(runtime.models, "Hello.", 16000)
time.sleep(12)
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


def test_nothing_is_sent_where_there_is_a_network(tmp_path: Path) -> None:
    """No socket to anywhere but loopback and no file under $HOME, 12 s past the load."""
    require_speech()
    if shutil.which("strace") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("strace is missing (.ci/run installs it)")
        pytest.skip("strace is not installed")
    home = tmp_path / "home"
    home.mkdir()
    trace = tmp_path / "trace"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ORT_"))}
    env["HOME"] = str(home)
    command = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace)]
    done = subprocess.run(
        [*command, sys.executable, "-c", WATCH],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    calls = [
        line for line in trace.read_text().splitlines() if "AF_INET" in line or "sendto(" in line
    ]
    reaching_out = [line for line in calls if "127.0.0.1" not in line and "::1" not in line]
    assert reaching_out == [], reaching_out[:5]
    assert list(home.iterdir()) == []
