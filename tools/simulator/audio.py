"""The caller's audio: WAV in, exact 20 ms frames out, and WAV out.

docs/vonage-protocol.md §3: signed 16-bit linear PCM, mono, little-endian, 20 ms
per frame (320/640/960 bytes at 8/16/24 kHz). Any WAV is read (8/16/24/32-bit
integer or 32/64-bit float, any channel count, any rate), mixed to mono and
resampled with soxr to the negotiated rate.

Every frame of a call is made distinct — the least significant bit of its first
:data:`STAMP_BITS` samples carries the frame number (about -90 dBFS, inaudible)
— so each frame that comes back can be matched to the one sent by a plain
dictionary lookup: that is what the echo check, the round-trip times and the
gap after a reconnect are measured with.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from simulator.errors import UsageError

FRAME_MS = 20
FRAMES_PER_SECOND = 1000 // FRAME_MS
RATES = (8000, 16000, 24000)
STAMP_BITS = 24
SAMPLE_BYTES = 2

Samples = npt.NDArray[np.int16]

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def samples_per_frame(rate: int) -> int:
    """Samples in one 20 ms frame at ``rate``."""
    return rate * FRAME_MS // 1000


def frame_bytes(rate: int) -> int:
    """Bytes in one 20 ms frame at ``rate`` (320, 640 or 960)."""
    return samples_per_frame(rate) * SAMPLE_BYTES


@dataclass(frozen=True)
class Pcm:
    """Audio as float samples in [-1, 1], shape (samples, channels)."""

    rate: int
    samples: npt.NDArray[np.float64]

    @property
    def seconds(self) -> float:
        """Duration."""
        return len(self.samples) / self.rate


def read_wav(path: Path) -> Pcm:
    """Read any PCM or float WAV file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_wav(data, str(path))


def parse_wav(data: bytes, name: str = "WAV") -> Pcm:
    """Parse RIFF/WAVE bytes: 8/16/24/32-bit integer or 32/64-bit float samples."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UsageError(f"{name} is not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAVE_FORMAT_EXTENSIBLE and size >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise UsageError(f"{name}: data chunk before fmt chunk")
            return Pcm(fmt[2], _decode(body, *fmt, name=name))
        pos += 8 + size + (size & 1)
    raise UsageError(f"{name}: no fmt or data chunk")


def _decode(
    body: bytes, tag: int, channels: int, rate: int, bits: int, *, name: str
) -> npt.NDArray[np.float64]:
    """Samples of a data chunk as float64 (frames, channels)."""
    if channels < 1 or rate < 1:
        raise UsageError(f"{name}: {channels} channels at {rate} Hz")
    width = bits // 8
    usable = len(body) - len(body) % (width * channels) if width else 0
    raw = body[:usable]
    if tag == _WAVE_FORMAT_PCM and bits == 8:
        values = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    elif tag == _WAVE_FORMAT_PCM and bits in (16, 32):
        kind = np.dtype(f"<i{width}")
        values = np.frombuffer(raw, kind).astype(np.float64) / float(2 ** (bits - 1))
    elif tag == _WAVE_FORMAT_PCM and bits == 24:
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        values = ints.astype(np.float64) / float(1 << 23)
    elif tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        values = np.frombuffer(raw, np.dtype(f"<f{width}")).astype(np.float64)
    else:
        raise UsageError(f"{name}: unsupported WAV encoding (format {tag}, {bits}-bit)")
    return values.reshape(-1, channels)


def to_pcm16(pcm: Pcm, rate: int) -> Samples:
    """Mono 16-bit samples at ``rate``: channels mixed, resampled with soxr, clipped."""
    mono = pcm.samples.mean(axis=1) if pcm.samples.size else np.zeros(0)
    if pcm.rate != rate and mono.size:
        mono = soxr.resample(mono, pcm.rate, rate, quality="HQ")
    samples: Samples = np.clip(np.round(mono * 32767), -32768, 32767).astype(np.int16)
    return samples


def warble(rate: int, seconds: float) -> Samples:
    """The built-in caller: a slow two-tone warble at -12 dBFS, never silent."""
    t = np.arange(round(rate * seconds)) / rate
    # A sweep that never repeats within a call, so frames differ even before stamping.
    sweep = 2 * np.pi * (440 * t + 40 * np.sin(2 * np.pi * 0.5 * t))
    wave_ = 0.125 * np.sin(sweep) + 0.125 * np.sin(1.5 * sweep)
    samples: Samples = np.round(wave_ * 32767).astype(np.int16)
    return samples


def stamp_frames(samples: Samples, rate: int, first: int = 0) -> list[bytes]:
    """Cut into whole 20 ms frames (the last one padded with silence), each stamped.

    Frame ``i`` carries ``first + i + 1`` in the low bit of its first STAMP_BITS
    samples, so no two frames are equal and none is all zeros.
    """
    per = samples_per_frame(rate)
    count = -(-len(samples) // per)
    if first + count >= 1 << STAMP_BITS:
        raise UsageError(f"too long: at most {(1 << STAMP_BITS) - 1} frames")
    grid = np.zeros((count, per), np.int16)
    grid.reshape(-1)[: len(samples)] = samples
    numbers = np.arange(first + 1, first + count + 1, dtype=np.int64)
    bits = (numbers[:, None] >> np.arange(STAMP_BITS)) & 1
    grid[:, :STAMP_BITS] = (grid[:, :STAMP_BITS] & ~np.int16(1)) | bits.astype(np.int16)
    little = grid.astype("<i2")
    return [row.tobytes() for row in little]


def read_stamp(frame: bytes) -> int:
    """The frame number stamped into ``frame`` (inverse of :func:`stamp_frames`)."""
    low = np.frombuffer(frame[: STAMP_BITS * SAMPLE_BYTES], "<i2") & 1
    return int((low.astype(np.int64) << np.arange(STAMP_BITS)).sum()) - 1


@dataclass
class Signal:
    """The frames one caller sends at one rate, and the index to match echoes."""

    rate: int
    frames: list[bytes]
    index: dict[bytes, int] = field(init=False, repr=False)
    silence: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {frame: i for i, frame in enumerate(self.frames)}
        self.silence = bytes(frame_bytes(self.rate))


def build_signal(rate: int, seconds: float, wav: Pcm | None = None, variant: int = 0) -> Signal:
    """``seconds`` of stamped frames at ``rate``: the WAV (looped) or the test signal.

    Signals of different ``variant`` share no frame (their stamps do not overlap),
    so a frame delivered to the wrong call of a load run is caught.
    """
    if rate not in RATES:
        raise UsageError(f"unsupported rate {rate} (8000, 16000 or 24000)")
    count = max(1, round(seconds * FRAMES_PER_SECOND))
    needed = count * samples_per_frame(rate)
    if wav is None:
        samples = warble(rate, needed / rate)
    else:
        source = to_pcm16(wav, rate)
        if source.size == 0:
            raise UsageError("the WAV file holds no audio")
        samples = np.resize(source, needed)
    return Signal(rate, stamp_frames(samples[:needed], rate, first=variant * count))


def write_wav(path: Path, rate: int, frames: list[bytes]) -> None:
    """Write mono 16-bit PCM frames to ``path``."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_BYTES)
        out.setframerate(rate)
        out.writeframes(b"".join(frames))
