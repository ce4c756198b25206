"""Nothing downloads at run time: the recognizer transcribes with no network at all.

The transcription runs in a child process with no route out: in a network
namespace of its own (``unshare -n``) when this runs as root, and always with
every socket connection refused and ``HF_HUB_OFFLINE`` unset by the test (the
module sets it itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.speech import tts

CHILD = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from pathlib import Path
from simulator.audio import read_wav, to_pcm16
from simulator.speech import asr
print(asr.transcribe(to_pcm16(read_wav(Path(sys.argv[1])), 16000), 16000))
"""


@pytest.mark.usefixtures("needs_asr")
def test_transcription_runs_with_no_route(speech_cache: Path) -> None:
    """Whisper tiny.en loads from the installed wheel and transcribes, offline."""
    wav = tts.SpeechCache(speech_cache).path_for("Your table is booked for dinner tonight.")
    tts.SpeechCache(speech_cache).speak("Your table is booked for dinner tonight.")
    command = [sys.executable, "-c", CHILD, str(wav)]
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare is not None:
        command = [unshare, "-n", *command]
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dinner tonight" in done.stdout.lower(), done.stdout
