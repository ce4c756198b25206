"""The recorder: a stereo WAV per call leg, the caller left, what we sent right.

``AUDIO_HANDLER=recorder`` records the echo (or the delayed echo) into
``RECORDER_DIR``; :class:`RecordingHandler` wraps any other handler the same way.
One file per socket leg, ``<call uuid>-<attempt>.wav``: a call that reconnects
after a lost replica has one file per attempt.

Both channels are on the caller's clock: inbound frame ``i`` is at ``i`` times 20 ms
(Vonage sends one frame every 20 ms), and each frame sent to the caller is
placed where Vonage would play it — at the current inbound position, or right
after the previous frame sent when Vonage's buffer still holds some
(``docs/vonage-protocol.md`` §3). An echo's frame ``i`` therefore lines up with
the caller's frame ``i``. A ``clear`` stops the right channel there.

The file is written in one-second blocks by one writer thread for the whole
process (never on the event loop), and its header is rewritten with each block,
so the file is a valid WAV at every moment. The last block is written and the
file closed in ``on_end``, which the server awaits before a drain completes:
the recording is complete on hang-up, on drain and on any close.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

from audio_socket import (
    AudioBytes,
    Call,
    CallEnd,
    CallEvent,
    CallHandler,
    CallStart,
    HandlerFactory,
    MaybeAwaitable,
    Reframer,
    with_settings,
)
from audio_socket.handlers.echo import echo
from audio_socket.handlers.settings import RecorderSettings

log = logging.getLogger("audio_socket")

#: Frames per block written: one second.
BLOCK_FRAMES = 50
#: One thread writes every recording of the process, in order.
_WRITER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Recording:
    """The two channels of one leg on the caller's clock, written as they become final."""

    def __init__(self, path: Path, rate: int, frame_bytes: int) -> None:
        self._frame_bytes = frame_bytes
        self._left = bytearray()  # caller frames not yet written
        self._right = bytearray()  # sent frames not yet written, from the same position
        self._base = 0  # frame position of the first byte held
        self._heard = 0  # inbound frames so far
        self._next_out = 0  # where the next frame sent plays (Vonage's buffer, §3)
        self._loop = asyncio.get_running_loop()
        self._file = _WavFile(path, rate)
        self._last = self._submit(self._file.open)

    @property
    def path(self) -> Path | None:
        """The file written, once it is open."""
        return self._file.path if self._file.wav is not None else None

    def caller(self, frame: bytes) -> None:
        """One inbound frame (the caller's clock moves on by one)."""
        self._left += frame
        self._heard += 1
        if self._heard - self._base >= 2 * BLOCK_FRAMES:
            self._write(self._heard - 1)

    def sent(self, frame: AudioBytes) -> None:
        """One frame sent to the caller: it plays at the next free position."""
        position = max(self._next_out, self._heard - 1, self._base)
        self._next_out = position + 1
        size = self._frame_bytes
        offset = (position - self._base) * size
        right = self._right
        if len(right) < offset:
            right += bytes(offset - len(right))
        right[offset : offset + size] = frame

    def cleared(self) -> None:
        """Vonage dropped what it had not played: nothing sent plays past now."""
        del self._right[max(self._heard - self._base, 0) * self._frame_bytes :]
        self._next_out = self._heard

    async def finish(self) -> None:
        """Write what is left and close the file."""
        self._write(max(self._heard, self._next_out))
        await self._submit(self._file.close)

    def _write(self, upto: int) -> None:
        """Hand the frames before position ``upto`` (final on both channels) to the writer."""
        size = (upto - self._base) * self._frame_bytes
        if size <= 0:
            return
        left, right = bytes(self._left[:size]), bytes(self._right[:size])
        del self._left[:size], self._right[:size]
        self._base = upto
        self._last = self._submit(functools.partial(self._file.write, left, right, size))

    def _submit(self, work: Callable[[], None]) -> asyncio.Future[None]:
        # One worker thread: blocks are written in the order they are submitted.
        return self._loop.run_in_executor(_WRITER, work)


class _WavFile:
    """The WAV file of a recording; used only in the writer thread."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.rate = rate
        self.wav: wave.Wave_write | None = None
        self._handle: BinaryIO | None = None
        self._failed = False

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = _create(self.path)
            self.path = Path(self._handle.name)
            wav = wave.open(self._handle, "wb")  # noqa: SIM115 - closed in close()
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            self.wav = wav
        except OSError as exc:
            self._fail(exc)

    def write(self, left: bytes, right: bytes, size: int) -> None:
        if self.wav is None:
            return
        stereo = np.zeros((size // 2, 2), "<i2")
        stereo[: len(left) // 2, 0] = np.frombuffer(left, "<i2")
        stereo[: len(right) // 2, 1] = np.frombuffer(right, "<i2")
        try:
            self.wav.writeframes(stereo.tobytes())  # rewrites the header's sizes too
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        try:
            if self.wav is not None:
                self.wav.close()
            if self._handle is not None:
                self._handle.close()
        except OSError as exc:
            self._fail(exc)
        finally:
            self.wav = None
            self._handle = None

    def _fail(self, exc: OSError) -> None:
        # The call goes on without its recording; one line says why.
        if not self._failed:
            self._failed = True
            log.error("recording failed", extra={"path": str(self.path), "error": str(exc)})
        self.wav = None


def _create(path: Path) -> BinaryIO:
    """A new file at ``path``, or ``path-2``, ``path-3``... when it exists: never overwrite."""
    for n in range(1, 1000):
        candidate = path if n == 1 else path.with_stem(f"{path.stem}-{n}")
        try:
            return candidate.open("xb")
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: too many recordings of this leg")


def recording_path(directory: Path, start: CallStart) -> Path:
    """``<call uuid>-<attempt>.wav`` in ``directory``, made safe as a file name."""
    call = _UNSAFE.sub("_", start.call_uuid or "unknown")[:100]
    return directory / f"{call}-{start.attempt or 1}.wav"


class _RecordedCall:
    """The call as the wrapped handler sees it: what it sends is recorded too.

    Sending and clearing are recorded here; everything else is the call's own.
    """

    def __init__(self, call: Call, recording: Recording) -> None:
        self._call = call
        self._recording = recording
        self._reframer = Reframer(call.frame_bytes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    def send_audio(self, audio: AudioBytes) -> None:
        for frame in self._reframer.push(audio):
            self._recording.sent(frame)
        self._call.send_audio(audio)

    def flush_audio(self) -> None:
        frame = self._reframer.pad()
        if frame is not None:
            self._recording.sent(frame)
        self._call.flush_audio()

    def clear(self) -> None:
        self._reframer.clear()
        self._recording.cleared()
        self._call.clear()


class RecordingHandler(CallHandler):
    """Run the handler ``inner`` makes, and record the leg into ``directory``."""

    __slots__ = ("_inner", "_recording")

    def __init__(self, call: Call, inner: HandlerFactory, directory: Path) -> None:
        start = call.start
        self._recording = Recording(
            recording_path(directory, start), start.sample_rate, start.frame_bytes
        )
        observe = getattr(call, "observe_played", None)
        if callable(observe):
            observe(self._recording.sent)  # the frames play() paces out
        self._inner = inner(cast(Call, _RecordedCall(call, self._recording)))

    def on_start(self, call: Call, start: CallStart) -> MaybeAwaitable:
        """Start the inner handler, on the recorded call."""
        return self._inner.on_start(call, start)

    def on_audio(self, frame: bytes) -> MaybeAwaitable:
        """Record the caller's frame, then hand it on."""
        self._recording.caller(frame)
        return self._inner.on_audio(frame)

    def on_event(self, event: CallEvent) -> MaybeAwaitable:
        """Events are the inner handler's."""
        return self._inner.on_event(event)

    async def on_end(self, end: CallEnd) -> None:
        """Let the inner handler end, then complete the file."""
        pending = self._inner.on_end(end)
        if pending is not None:
            await pending
        await self._recording.finish()


@with_settings(RecorderSettings)
def recorded_echo(call: Call) -> CallHandler:
    """``AUDIO_HANDLER=recorder``: the echo (or delayed echo), recorded to RECORDER_DIR."""
    return RecordingHandler(call, echo, call.settings.recorder_dir)
