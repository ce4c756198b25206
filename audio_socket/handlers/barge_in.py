"""A prompt with barge-in: a long prompt that stops as soon as the caller speaks.

``AUDIO_HANDLER=barge_in`` plays ``PROMPT_WAV`` (or, without one, 30 s of
synthesised notes) through the paced ``play()``. While it plays, an energy
detector (``audio_socket.frames.SpeechDetector``) listens to the caller; when they
speak, ``clear()`` stops the prompt: Vonage drops what it had buffered
(``docs/vonage-protocol.md`` §3) and, with the playout's small lead, the caller
hears the prompt stop 40 ms after they started, plus the network's delay.

After a barge-in the handler listens (where a transcriber or a bot would take
over). Whenever nothing plays and the caller has been quiet for
:data:`RESUME_AFTER_SECONDS`, the prompt starts again from the beginning.
"""

from __future__ import annotations

import logging
from typing import Final

from audio_socket import FRAME_MS, Call, CallHandler, SpeechDetector
from audio_socket.handlers.settings import PromptSettings
from audio_socket.handlers.sounds import long_prompt

log = logging.getLogger("audio_socket")

#: Quiet this long after a barge-in, and the prompt starts again.
RESUME_AFTER_SECONDS: Final = 2.0


class BargeInHandler(CallHandler):
    """Play a long prompt; stop it when the caller starts to speak."""

    __slots__ = ("_call", "_playing", "_speech", "barge_ins")
    settings_class = PromptSettings

    def __init__(self, call: Call) -> None:
        self._call = call
        self._speech = SpeechDetector()
        self._playing = False
        #: How often the caller cut the prompt short.
        self.barge_ins = 0
        self._start_prompt()

    def on_audio(self, frame: bytes) -> None:
        """While the prompt plays, listen for speech; afterwards, for quiet."""
        speaking = self._speech.update(frame)
        if self._playing and speaking:
            self._barge_in()
        elif not self._playing and self._speech.quiet_frames * FRAME_MS >= (
            RESUME_AFTER_SECONDS * 1000
        ):
            self._start_prompt()

    def _start_prompt(self) -> None:
        self._playing = True
        self._speech.reset()
        self._call.spawn(self._play(), name="barge_in prompt")

    async def _play(self) -> None:
        call = self._call
        try:
            wav = call.settings.prompt_wav if call.settings is not None else None
            # play() reads and resamples a WAV file in a worker thread.
            if await call.play(long_prompt(call.sample_rate) if wav is None else wav):
                await call.played()
        finally:
            self._playing = False

    def _barge_in(self) -> None:
        self._call.clear()  # the play and its played() return False now
        self._playing = False
        self._speech.reset()
        self.barge_ins += 1
        log.info("barge-in", extra={"call_uuid": self._call.call_uuid})
