"""Starting a child of the stack so that it dies with the launcher, however that dies.

Each child runs through ``deathsig.py``, which sets ``PR_SET_PDEATHSIG`` before it
execs the program: when the launcher dies, SIGKILL included, the kernel kills the
child. The kernel ties that signal to the *thread* that forked the child, not to
the process: a replica restarted by a test from an ``asyncio.to_thread`` worker
would be killed when that worker's pool shut down. So every child is forked by one
thread that lives as long as the launcher process (a daemon thread: it ends with
the process, and only then).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Final

__all__ = ["guarded_argv", "spawn"]

DEATHSIG_SCRIPT: Final = Path(__file__).with_name("deathsig.py")

_Request = tuple[Callable[[], "subprocess.Popen[bytes]"], "Future[subprocess.Popen[bytes]]"]


def guarded_argv(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` run through ``deathsig.py``, tied to this process.

    ``-I -S``: the script needs the standard library only, and neither the child's
    PYTHON* variables nor site-packages may change how it runs.
    """
    guard = [sys.executable, "-I", "-S", str(DEATHSIG_SCRIPT), str(os.getpid())]
    return [*guard, env.get("LC_CTYPE", ""), *argv]


class _Forker:
    """The one thread that forks every child of this process."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """``start()`` called on the forking thread; its result or its exception."""
        with self._lock:
            # After an os.fork() (multiprocessing), the parent's thread is not ours.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="stack-fork", daemon=True)
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((start, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            start, future = self._requests.get()
            try:
                future.set_result(start())
            except BaseException as exc:  # handed to the caller, raised there
                future.set_exception(exc)


_FORKER: Final = _Forker()


def spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, its output to ``log``; it dies with us.

    Its own group, so that a terminal's Ctrl-C reaches the launcher alone, which
    then stops the children in order.
    """

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            guarded_argv(argv, env),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )

    return _FORKER.run(start)
