"""A prompt with barge-in: a long prompt that stops as soon as the caller speaks.

``AUDIO_HANDLER=barge_in`` plays ``PROMPT_WAV`` (or, without one, 30 s of
synthesised notes) through the paced ``play()``. While it plays, each inbound
frame's energy is measured; :data:`SPEECH_FRAMES` frames in a row above
:data:`SPEECH_DBFS` count as the caller speaking, and ``clear()`` stops the
prompt then: Vonage drops what it had buffered (``docs/vonage-protocol.md`` §3)
and, with the playout's small lead, the caller hears the prompt stop 40 ms
after they started, plus the network's delay.

An energy detector is the clear, dependency-free choice for a phone line: the
caller's own microphone is on the inbound leg, and line noise sits far below
speech (-60 dBFS against -20 to -30). A voice-activity model such as webrtcvad
would also ignore loud non-speech noise; it fits in ``_speaking`` the same way.

After a barge-in the handler listens (where a transcriber or a bot would take
over). Whenever nothing plays and the caller has been quiet for
:data:`RESUME_AFTER_SECONDS`, the prompt starts again from the beginning.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import Final

import numpy as np

from audio_socket.handlers.base import CallControl, CallEnd, CallHandler
from audio_socket.handlers.sounds import long_prompt
from audio_socket.prompts import read_wav
from audio_socket.protocol import FRAME_MS, CallStart

log = logging.getLogger("audio_socket")

#: Frame energy above this is the caller speaking (line noise is near -60 dBFS).
SPEECH_DBFS: Final = -35.0
#: Frames in a row above it: 40 ms, so a click is not a barge-in.
SPEECH_FRAMES: Final = 2
#: Quiet this long after a barge-in, and the prompt starts again.
RESUME_AFTER_SECONDS: Final = 2.0

_SPEECH_POWER: Final = (32768 * 10 ** (SPEECH_DBFS / 20)) ** 2


_read_shared = functools.lru_cache(maxsize=8)(read_wav)


def frame_power(frame: bytes) -> float:
    """Mean square of a frame's samples (full scale is 32768 squared)."""
    samples = np.frombuffer(frame, "<i2").astype(np.float32)
    return float(samples @ samples) / max(samples.size, 1)


class BargeInHandler(CallHandler):
    """Play a long prompt; stop it when the caller starts to speak."""

    __slots__ = ("_call", "_loud", "_playing", "_prompt", "_quiet", "_task", "barge_ins")

    def __init__(self, prompt: Path | None = None) -> None:
        self._prompt = prompt
        self._call: CallControl | None = None
        self._playing = False
        self._loud = 0
        self._quiet = 0
        self._task: asyncio.Task[None] | None = None
        #: How often the caller cut the prompt short.
        self.barge_ins = 0

    def on_start(self, call: CallControl, start: CallStart) -> None:
        """Start the prompt."""
        self._call = call
        self._start_prompt()

    def on_audio(self, frame: bytes) -> None:
        """While the prompt plays, listen for speech; afterwards, for quiet."""
        speaking = frame_power(frame) > _SPEECH_POWER
        if self._playing:
            self._loud = self._loud + 1 if speaking else 0
            if self._loud >= SPEECH_FRAMES:
                self._barge_in()
        elif self._task is None:
            self._quiet = 0 if speaking else self._quiet + 1
            if self._quiet * FRAME_MS >= RESUME_AFTER_SECONDS * 1000:
                self._start_prompt()

    def on_end(self, end: CallEnd) -> None:
        """Stop the prompt's task: the caller is gone."""
        if self._task is not None:
            self._task.cancel()

    def _start_prompt(self) -> None:
        self._playing, self._loud, self._quiet = True, 0, 0
        self._task = asyncio.create_task(self._play())

    async def _play(self) -> None:
        call = self._call
        if call is None:
            return
        try:
            rate = call.start.sample_rate
            if self._prompt is None:
                prompt = long_prompt(rate)
            else:  # read once per process, in a worker thread, then shared
                loop = asyncio.get_running_loop()
                prompt = await loop.run_in_executor(None, _read_shared, self._prompt, rate)
            if await call.play(prompt):
                await call.played()
        finally:
            self._playing = False
            self._task = None

    def _barge_in(self) -> None:
        if self._call is not None:
            self._call.clear()  # the play and its played() return False now
        self._playing = False
        self.barge_ins += 1
        call_uuid = self._call.start.call_uuid if self._call is not None else None
        log.info("barge-in", extra={"call_uuid": call_uuid})
