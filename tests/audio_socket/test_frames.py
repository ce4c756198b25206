"""Frame helpers: samples little-endian on any host, levels, and the speech detector."""

from __future__ import annotations

import math
import struct
import sys
from array import array

import numpy as np

from audio_socket.frames import SpeechDetector, frame_dbfs, frame_power, samples


def level(dbfs: float, count: int = 320) -> bytes:
    """A 440 Hz tone at 16 kHz whose RMS is ``dbfs``."""
    t = np.arange(count) / 16000
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    data: bytes = np.round(amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    return data


def test_samples_are_little_endian_whatever_the_host() -> None:
    """Known bytes give known values: 0x0100 is 1, 0xff7f is 32767, 0x0080 is -32768."""
    frame = b"\x01\x00\xff\x7f\x00\x80\xfe\xff"
    assert samples(frame).tolist() == [1, 32767, -32768, -2]
    native = array("h", frame)
    if sys.byteorder == "big":
        native.byteswap()  # what a big-endian host must do, and samples() does for it
    assert samples(frame).tolist() == native.tolist()


def test_samples_is_a_view_not_a_copy() -> None:
    """No copy of the frame: the array reads the frame's own buffer."""
    frame = bytearray(struct.pack("<2h", 5, -5))
    view = samples(frame)
    frame[0] = 6
    assert view.tolist() == [6, -5]


def test_levels_of_known_frames() -> None:
    """Silence is -inf dBFS; a tone at -20 dBFS measures -20; power is the mean square."""
    assert frame_power(bytes(640)) == 0.0
    assert frame_dbfs(bytes(640)) == -math.inf
    assert math.isclose(frame_dbfs(level(-20)), -20.0, abs_tol=0.1)
    assert frame_power(struct.pack("<2h", 3, -4)) == 12.5


def test_speech_after_n_loud_frames_not_on_one_click() -> None:
    """One loud frame (a click) is not speech; ``frames`` loud frames in a row are."""
    detector = SpeechDetector(frames=3)
    assert [detector.update(f) for f in (level(-50), level(-20), level(-50))] == [False] * 3
    assert [detector.update(level(-20)) for _ in range(3)] == [False, False, True]
    assert detector.quiet_frames == 0


def test_quiet_frames_count_and_reset_forgets() -> None:
    """Quiet frames in a row are counted; reset starts over."""
    detector = SpeechDetector()
    for _ in range(4):
        detector.update(level(-60))
    assert detector.quiet_frames == 4
    detector.update(level(-20))
    detector.reset()
    assert not detector.update(level(-20))  # one loud frame since the reset
    assert detector.update(level(-20))
