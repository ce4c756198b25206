"""What a handler needs from a frame: its samples, its loudness, and whether someone speaks.

A frame is 20 ms of 16-bit linear PCM, mono, little-endian (docs/vonage-protocol.md
§3), whatever the machine's own byte order. ``samples`` gives a numpy view of it
without a copy; numpy is imported on first use, so a handler that never calls
these pays nothing for them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from audio_socket.framing import AudioBytes

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["SpeechDetector", "frame_dbfs", "frame_power", "samples"]

#: Full scale of a 16-bit sample.
FULL_SCALE: Final = 32768.0


def samples(frame: AudioBytes) -> npt.NDArray[np.int16]:
    """The frame's samples as a read-only little-endian int16 array: a view, no copy."""
    import numpy as np  # noqa: PLC0415 - optional: only handlers that look at samples pay

    return np.frombuffer(frame, dtype="<i2")


def frame_power(frame: AudioBytes) -> float:
    """Mean square of the frame's samples (full scale is 32768 squared)."""
    values = samples(frame).astype("float32")
    return float(values @ values) / max(values.size, 1)


def frame_dbfs(frame: AudioBytes) -> float:
    """The frame's RMS level in dBFS: 0 is a full-scale square wave, silence is -inf."""
    power = frame_power(frame)
    return 10 * math.log10(power / FULL_SCALE**2) if power > 0 else -math.inf


class SpeechDetector:
    """An energy detector: the caller speaks after ``frames`` loud frames in a row.

    On a phone line the caller's microphone is the inbound leg and line noise sits
    far below speech (about -60 dBFS against -20 to -30), so a level threshold
    tells speech from quiet. It does not tell speech from a loud noise; a
    voice-activity model does, and fits the same ``update`` shape.
    """

    __slots__ = ("_loud", "_power", "_quiet", "frames")

    def __init__(self, threshold_dbfs: float = -35.0, frames: int = 2) -> None:
        self._power = (FULL_SCALE * 10 ** (threshold_dbfs / 20)) ** 2
        #: Loud frames in a row that count as speech: 2 is 40 ms, so a click is not.
        self.frames = frames
        self._loud = 0
        self._quiet = 0

    def update(self, frame: AudioBytes) -> bool:
        """Feed one frame; True while the caller is speaking."""
        if frame_power(frame) > self._power:
            self._loud += 1
            self._quiet = 0
        else:
            self._loud = 0
            self._quiet += 1
        return self._loud >= self.frames

    @property
    def quiet_frames(self) -> int:
        """Frames in a row below the threshold, up to now."""
        return self._quiet

    def reset(self) -> None:
        """Forget what was heard: count from the next frame."""
        self._loud = self._quiet = 0
