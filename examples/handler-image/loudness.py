"""Echo the caller, and log how loud the call was when it ends.

A handler of your own, as it goes into the audio image (docs/deploy.md, "Your own handler in
the image"): ``AUDIO_HANDLER=loudness:LoudnessHandler``.
"""

from __future__ import annotations

import logging
import math

from audio_socket import Call, CallEnd, CallHandler, frame_power

LOG = logging.getLogger(__name__)
#: Full scale of a 16-bit sample: 0 dBFS.
FULL_SCALE = 32768.0


class LoudnessHandler(CallHandler):
    """The echo, plus the call's RMS level in dBFS, logged once at the end."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.energy = 0.0
        self.samples = 0

    def on_audio(self, frame: bytes) -> None:
        count = len(frame) // 2
        self.energy += frame_power(frame) * count
        self.samples += count
        self.call.send_audio(frame)

    def on_end(self, end: CallEnd) -> None:
        rms = math.sqrt(self.energy / self.samples) if self.samples else 0.0
        dbfs = 20 * math.log10(rms / FULL_SCALE) if rms else -math.inf
        LOG.info("call loudness", extra={"rms_dbfs": round(dbfs, 1), "samples": self.samples})
