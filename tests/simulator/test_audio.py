"""WAV in, exact 20 ms stamped frames out, WAV out."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from simulator.audio import (
    RATES,
    STAMP_BITS,
    build_signal,
    frame_bytes,
    parse_wav,
    read_stamp,
    read_wav,
    samples_per_frame,
    stamp_frames,
    to_pcm16,
    write_wav,
)
from simulator.errors import UsageError


def wav_bytes(
    samples: np.ndarray, rate: int, *, tag: int = 1, bits: int = 16, channels: int | None = None
) -> bytes:
    """A RIFF/WAVE file: samples shaped (frames, channels), already in the target encoding."""
    channels = channels or samples.shape[1]
    data = samples.tobytes()
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits
    )
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(("rate", "size"), [(8000, 320), (16000, 640), (24000, 960)])
def test_frame_sizes(rate: int, size: int) -> None:
    """20 ms of 16-bit mono: 320, 640, 960 bytes (docs/vonage-protocol.md §3)."""
    assert frame_bytes(rate) == size
    assert samples_per_frame(rate) * 2 == size


@settings(max_examples=50, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    samples=hnp.arrays(np.int16, st.integers(1, 3000)),
)
def test_stamped_frames_are_exact_distinct_and_faithful(rate: int, samples: np.ndarray) -> None:
    """Whole frames of the exact size, each distinct and numbered; the audio kept but LSBs."""
    frames = stamp_frames(samples, rate)
    per = samples_per_frame(rate)
    assert len(frames) == -(-len(samples) // per)
    assert all(len(f) == frame_bytes(rate) for f in frames)
    assert len(set(frames)) == len(frames)
    assert [read_stamp(f) for f in frames] == list(range(len(frames)))
    assert all(any(f) for f in frames), "never all zeros: silence stays distinguishable"
    back = np.frombuffer(b"".join(frames), "<i2")
    padded = np.zeros(len(frames) * per, np.int16)
    padded[: len(samples)] = samples
    differs = np.flatnonzero(back != padded)
    assert all(i % per < STAMP_BITS for i in differs)
    assert np.all(np.abs(back.astype(int) - padded.astype(int)) <= 1)


@pytest.mark.parametrize(
    ("tag", "bits", "dtype", "scale"),
    [(1, 16, "<i2", 32767), (1, 32, "<i4", 2**31 - 1), (3, 32, "<f4", 1.0), (3, 64, "<f8", 1.0)],
)
def test_parse_wav_encodings(tag: int, bits: int, dtype: str, scale: float) -> None:
    """Integer and float WAVs decode to the same float samples; channels are kept."""
    wave_ = np.array([[0.5, -0.5], [0.25, 0.0]])
    raw = (wave_ * scale).astype(dtype)
    pcm = parse_wav(wav_bytes(raw, 44100, tag=tag, bits=bits))
    assert pcm.rate == 44100
    assert pcm.samples.shape == (2, 2)
    assert np.allclose(pcm.samples, wave_, atol=1e-4)


def test_parse_wav_8_and_24_bit() -> None:
    """8-bit (unsigned) and 24-bit (packed) PCM decode too."""
    eight = parse_wav(wav_bytes(np.array([[128], [192], [64]], np.uint8), 8000, bits=8))
    assert np.allclose(eight.samples[:, 0], [0.0, 0.5, -0.5])
    packed = b"".join(int(v).to_bytes(3, "little", signed=True) for v in (0, 1 << 22, -(1 << 22)))
    raw = np.frombuffer(packed, np.uint8).reshape(3, 3)
    pcm = parse_wav(wav_bytes(raw, 8000, bits=24, channels=1))
    assert pcm.samples.shape == (3, 1)
    assert np.allclose(pcm.samples[:, 0], [0.0, 0.5, -0.5])


def test_parse_wav_rejects_other_files() -> None:
    """Not a WAV, or an encoding it cannot read: a UsageError naming the file."""
    with pytest.raises(UsageError, match=r"x\.bin is not a WAV file"):
        parse_wav(b"hello world, not a wav", "x.bin")
    with pytest.raises(UsageError, match="unsupported WAV encoding"):
        parse_wav(wav_bytes(np.zeros((4, 1), np.uint8), 8000, tag=6, bits=8))


def test_read_wav_missing(tmp_path: Path) -> None:
    """A missing file is a UsageError, not a traceback."""
    with pytest.raises(UsageError, match="cannot read"):
        read_wav(tmp_path / "nope.wav")


def test_to_pcm16_mixes_and_resamples() -> None:
    """Stereo 44.1 kHz becomes mono 16-bit at the negotiated rate."""
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1)
    pcm = parse_wav(wav_bytes((stereo * 32767).astype("<i2"), 44100))
    out = to_pcm16(pcm, 16000)
    assert out.dtype == np.int16
    assert abs(len(out) - 16000) <= 1
    assert 0.45 * 32767 < np.abs(out).max() < 0.55 * 32767


def test_build_signal_loops_wav_to_length() -> None:
    """A short WAV is looped to fill the call; every frame still distinct."""
    pcm = parse_wav(wav_bytes((np.ones((800, 1)) * 1000).astype("<i2"), 8000))
    signal = build_signal(8000, 2.0, pcm)
    assert len(signal.frames) == 100
    assert len(signal.index) == 100
    assert signal.silence == bytes(320)


def test_build_signal_builtin_is_audible() -> None:
    """The built-in caller is not silence."""
    signal = build_signal(24000, 0.1)
    samples = np.frombuffer(b"".join(signal.frames), "<i2")
    assert len(signal.frames) == 5
    assert np.abs(samples).max() > 4000


def test_write_wav_round_trip(tmp_path: Path) -> None:
    """Frames written come back as mono 16-bit at the rate given."""
    frames = build_signal(16000, 0.1).frames
    path = tmp_path / "out.wav"
    write_wav(path, 16000, frames)
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 16000
        assert wav.readframes(wav.getnframes()) == b"".join(frames)
    assert read_wav(path).rate == 16000


def test_variants_share_no_frame() -> None:
    """Signals of different variants share no frame: cross-talk between calls shows."""
    one, two = build_signal(8000, 1.0, variant=0), build_signal(8000, 1.0, variant=1)
    assert not set(one.frames) & set(two.frames)
    assert read_stamp(two.frames[0]) == len(two.frames)
