"""One stack per state folder: an exclusive lock held for the stack's life.

Two stacks on one folder would share ``secrets.env`` (the second one's secrets
replace the first one's, and calls to the first then fail with 401) and each other's
logs. The lock is ``flock`` on ``stack.lock`` in the folder: the kernel drops it
when the process exits, however it exits, so a crashed run never leaves a stale
lock behind. The file also says who holds it, for the message the next stack gives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Final

from stack.errors import StateDirInUse

__all__ = ["LOCK_NAME", "StateLock"]

LOCK_NAME: Final = "stack.lock"


class StateLock:
    """The lock of one state folder; :meth:`acquire` raises ``StateDirInUse`` if taken."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting, and write this process's id into the file."""
        if self._fd is not None:
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Opened without truncation: the holder's description stays readable until
        # this process owns the lock. Not inherited by the stack's children (close
        # on exec), so a child left running never holds it.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StateDirInUse(self.root, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.describe(f"pid {os.getpid()}")

    def describe(self, holder: str) -> None:
        """Say who holds the lock (``pid 1234, https://localhost:8443``)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{holder}\n".encode(), 0)

    def release(self) -> None:
        """Let the next stack have the folder; harmless when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor releases the flock


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""
