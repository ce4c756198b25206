"""Re-framing outbound audio into whole frames of the negotiated size.

``docs/vonage-protocol.md`` §3: audio back to the caller goes as binary messages of
exactly one 20 ms frame each; what Vonage does with another size is not
documented, so a short frame is never sent. Audio of any length goes in; whole
frames come out; the remainder waits for the next input. Nothing is padded
mid-stream: only :meth:`Reframer.pad` (an explicit end of utterance) fills the
remainder with silence.

Pure code, no I/O. The common case (one whole frame in, nothing carried) costs
a length check and returns the input object itself, uncopied.
"""

from __future__ import annotations

import os

AudioBytes = bytes | bytearray | memoryview
#: What ``play()`` takes: 16-bit PCM, or the path of a WAV file.
PromptSource = AudioBytes | str | os.PathLike[str]


class Reframer:
    """Cut a stream of audio bytes into frames of ``frame_bytes`` each."""

    __slots__ = ("_carry", "frame_bytes", "pending")

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError("frame_bytes must be a positive, even number of bytes")
        self.frame_bytes = frame_bytes
        #: Bytes carried toward the next frame (read it; do not set it).
        self.pending = 0
        self._carry = bytearray()

    def push(self, audio: AudioBytes) -> list[bytes]:
        """Add ``audio`` to the stream; return the whole frames it completes."""
        if not self.pending and len(audio) == self.frame_bytes:
            return [audio if isinstance(audio, bytes) else bytes(audio)]
        carry = self._carry
        carry += audio
        size = self.frame_bytes
        whole = len(carry) - len(carry) % size
        with memoryview(carry) as view:
            frames = [bytes(view[i : i + size]) for i in range(0, whole, size)]
        del carry[:whole]
        self.pending = len(carry)
        return frames

    def pad(self) -> bytes | None:
        """Complete the carried remainder with silence; ``None`` if nothing is carried.

        For the end of an utterance: zero samples are silence in linear PCM.
        """
        if not self.pending:
            return None
        frame = bytes(self._carry) + bytes(self.frame_bytes - self.pending)
        self.clear()
        return frame

    def clear(self) -> None:
        """Drop the carried remainder (after a barge-in ``clear``, say)."""
        self._carry.clear()
        self.pending = 0
