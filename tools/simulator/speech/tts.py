"""Text spoken by espeak-ng (Debian's ``espeak-ng`` package), made once per text and cached.

The cache key is the program's version, the voice and the text, so a cached WAV is
what this espeak-ng would say now; a file is written under a temporary name and
renamed, so two callers making the same text at once never read half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from simulator.audio import Pcm, read_wav
from simulator.errors import SimulatorError, UsageError

ESPEAK = "espeak-ng"
DEFAULT_VOICE = "en-us"
INSTALL_HINT = "text turns need espeak-ng: apt-get install espeak-ng (or give say: a .wav file)"
TIMEOUT_SECONDS = 60.0


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/simulator/speech`` (``~/.cache`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simulator" / "speech"


def espeak_available() -> bool:
    """Whether the espeak-ng program is on PATH."""
    return shutil.which(ESPEAK) is not None


@cache
def espeak_version() -> str:
    """``espeak-ng --version``'s line: part of the cache key."""
    try:
        done = subprocess.run(
            [ESPEAK, "--version"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"{INSTALL_HINT} ({exc})") from exc
    return done.stdout.strip()


class SpeechCache:
    """Speaks texts with espeak-ng into WAV files kept in ``folder``."""

    def __init__(self, folder: Path, voice: str = DEFAULT_VOICE) -> None:
        self.folder = folder
        self.voice = voice

    def path_for(self, text: str) -> Path:
        """Where the WAV of ``text`` is (or will be) kept."""
        key = f"{espeak_version()}\n{self.voice}\n{text}".encode()
        return self.folder / f"{hashlib.sha256(key).hexdigest()[:32]}.wav"

    def speak(self, text: str) -> Pcm:
        """``text`` as audio: from the cache, or spoken now and cached."""
        path = self.path_for(text)
        if not path.is_file():
            self._make(text, path)
        return read_wav(path)

    def _make(self, text: str, path: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        # The text goes on stdin, never as an argument espeak-ng could read as an option.
        command = [ESPEAK, "-v", self.voice, "-w", str(partial), "--stdin"]
        try:
            subprocess.run(
                command,
                input=text,
                text=True,
                capture_output=True,
                check=True,
                timeout=TIMEOUT_SECONDS,
            )
            partial.replace(path)
        except (OSError, subprocess.SubprocessError) as exc:
            partial.unlink(missing_ok=True)
            raise SimulatorError(f"espeak-ng could not say {text!r}: {exc}") from exc
