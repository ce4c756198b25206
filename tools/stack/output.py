"""An output stream that drops what it cannot write, so that a stop is never cut short.

``make run 2>&1 | tee run.log`` then Ctrl-C: ``tee`` gets the SIGINT too and is gone
before the launcher writes "stopping"; a closed terminal answers writes with EIO.
Either error, raised from a ``print`` in the middle of a stop, would end the
launcher there with its replicas still draining. Here the text is dropped instead.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Protocol, TextIO

__all__ = ["DroppingOutput", "Output"]


class Output(Protocol):
    """Where the launcher says what it does: a text stream, or a ``DroppingOutput``."""

    def write(self, text: str, /) -> int:
        """Write ``text``."""

    def flush(self) -> None:
        """Flush what was written."""


class DroppingOutput(io.TextIOBase):
    """``stream``, until a write or flush fails; then nothing, silently."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self.broken = False

    def writable(self) -> bool:
        """Always: what cannot be written is dropped."""
        return True

    def write(self, text: str) -> int:
        """Write ``text``, or drop it if the stream is broken."""
        if not self.broken:
            try:
                self._stream.write(text)
            except OSError:  # BrokenPipeError, or EIO from a terminal that hung up
                self._drop()
        return len(text)

    def flush(self) -> None:
        """Flush the stream, unless it is broken."""
        if not self.broken:
            try:
                self._stream.flush()
            except OSError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        # The stream keeps what it could not write, and Python flushes it again at
        # exit ("Exception ignored ... BrokenPipeError", exit status 120): its
        # descriptor now leads to /dev/null, where that flush succeeds.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            fd = self._stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
