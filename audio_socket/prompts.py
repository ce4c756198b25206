"""Prompts: WAV files and PCM at any rate, turned into the call's audio format.

``docs/vonage-protocol.md`` §3: the call's audio is 16-bit linear PCM, mono,
little-endian, at 8, 16 or 24 kHz. A prompt may be a WAV file (integer PCM,
8 to 32 bits, any channel count and rate) or raw 16-bit mono PCM at any rate;
it is mixed to mono and resampled with soxr (a real band-limited resampler, not
sample dropping). These functions block for as long as the prompt is long: the
call runs them in a worker thread (:func:`loader`), never on the event
loop.
"""

from __future__ import annotations

import os
import sys
import wave
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped,unused-ignore]  # no stubs; checked by its tests

from audio_socket.errors import PromptError
from audio_socket.framing import AudioBytes, PromptSource

#: Longest prompt read from a WAV file: an hour at 24 kHz is 173 MB.
MAX_PROMPT_SECONDS = 3600
#: Rates a PCM prompt may be given at.
MIN_RATE, MAX_RATE = 1000, 384_000


def read_wav(path: str | os.PathLike[str], rate: int) -> bytes:
    """The WAV file at ``path`` as 16-bit mono PCM at ``rate``.

    Raises:
        PromptError: It cannot be read, is not integer PCM, or is too long.
    """
    name = Path(path).name
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            channels, width = wav.getnchannels(), wav.getsampwidth()
            source_rate = wav.getframerate()
            if wav.getnframes() > MAX_PROMPT_SECONDS * source_rate:
                raise PromptError(f"{name}: longer than {MAX_PROMPT_SECONDS} s")
            data = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(f"{name}: cannot read as a PCM WAV file ({exc})") from None
    samples = _decode(data, width, channels, name)
    return _resample(samples, source_rate, rate).tobytes()


def resample(audio: AudioBytes, source_rate: int, rate: int) -> bytes:
    """16-bit mono PCM at ``source_rate`` as the same at ``rate``.

    Raises:
        PromptError: ``source_rate`` is out of range or the audio is not whole samples.
    """
    check_pcm(audio, source_rate)
    samples = np.frombuffer(audio, "<i2")
    return _resample(samples, source_rate, rate).tobytes()


def check_pcm(audio: AudioBytes, rate: int | None) -> None:
    """Refuse what cannot be 16-bit PCM at ``rate``, before anything is queued.

    Raises:
        PromptError: Saying what is wrong.
    """
    if len(memoryview(audio).cast("B")) % 2:
        raise PromptError("16-bit PCM has an even number of bytes")
    if rate is not None and not MIN_RATE <= rate <= MAX_RATE:
        raise PromptError(f"rate must be between {MIN_RATE} and {MAX_RATE} Hz, not {rate}")


def loader(source: PromptSource, source_rate: int | None, rate: int) -> Callable[[], bytes]:
    """The work that turns ``source`` into the call's format, for a worker thread."""
    if isinstance(source, (str, os.PathLike)):
        return partial(read_wav, source, rate)
    return partial(resample, source, source_rate or rate, rate)


def _decode(data: bytes, width: int, channels: int, name: str) -> npt.NDArray[np.int16]:
    """Integer PCM samples of any width, mixed to 16-bit mono."""
    if width not in (1, 2, 3, 4) or channels < 1:
        raise PromptError(f"{name}: {8 * width}-bit audio in {channels} channels is not supported")
    if width == 3:  # packed 24-bit: widen to 32-bit by putting each sample's bytes high
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        padded = np.zeros((len(raw), 4), np.uint8)
        padded[:, 1:] = raw
        values = padded.view("<i4").reshape(-1).astype(np.float64) / 2**31
    elif width == 1:  # 8-bit WAV is unsigned
        values = (np.frombuffer(data, np.uint8).astype(np.float64) - 128) / 128
    else:
        values = np.frombuffer(data, f"<i{width}").astype(np.float64) / 2 ** (8 * width - 1)
    mono = values.reshape(-1, channels).mean(axis=1)
    samples: npt.NDArray[np.int16] = np.clip(np.round(mono * 32768), -32768, 32767).astype("<i2")
    return samples


def _resample(samples: npt.NDArray[np.int16], source_rate: int, rate: int) -> npt.NDArray[np.int16]:
    if source_rate == rate or not samples.size:
        return samples
    out: npt.NDArray[np.int16] = soxr.resample(samples, source_rate, rate, quality="HQ")
    return out if sys.byteorder == "little" else out.astype("<i2")
