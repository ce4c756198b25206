"""Child processes of the stack: started in their own process group, logged to a file.

Their own group, so that a terminal's Ctrl-C reaches the launcher alone, which then
stops them in order: audio replicas first (SIGTERM: they drain), Caddy last. Each
dies with the launcher if the launcher dies first (``stack.spawn``), and is
recorded in the state folder as it starts (``stack.leftovers``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

import httpx

from stack.errors import StartupFailed
from stack.leftovers import ProcessRecord
from stack.paths import StatePaths
from stack.spawn import spawn

__all__ = ["ManagedProcess", "service_process", "wait_healthy", "wait_until"]

#: Seconds between two readiness probes: short, since start-up takes about one.
POLL_INTERVAL: Final = 0.05
LOG_TAIL_LINES: Final = 15


class ManagedProcess:
    """One program of the stack, its output appended to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        *,
        record: ProcessRecord | None = None,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        #: Where each start is recorded, so that a process left over is named.
        self.record = record
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        """The running (or exited) process."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    @property
    def started(self) -> bool:
        """Whether ``start`` was called."""
        return self._popen is not None

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once exited (negative: killed by that signal)."""
        return None if self._popen is None else self._popen.poll()

    def start(self) -> None:
        """Start the program; a restart appends to the same log."""
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._popen = spawn(self.argv, self.env, self.cwd, self._log)
        if self.record is not None:
            self.record.add(self.name, self._popen.pid, self.argv)

    def send_signal(self, signum: signal.Signals) -> None:
        """Signal the process if it is still running."""
        if self.alive:
            self.popen.send_signal(signum)

    def wait(self, timeout: float | None = None, cancel: threading.Event | None = None) -> bool:
        """Wait for the exit; False on timeout or when ``cancel`` is set first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive:
            if cancel is not None and cancel.is_set():
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            step = POLL_INTERVAL if left is None else min(POLL_INTERVAL, left)
            try:
                self.popen.wait(step)
            except subprocess.TimeoutExpired:
                continue
        self._close_log()
        return True

    def stop(
        self,
        signum: signal.Signals | None = signal.SIGTERM,
        timeout: float = 10.0,
        cancel: threading.Event | None = None,
    ) -> int | None:
        """Send ``signum`` (None: it was sent already), wait up to ``timeout``, then
        SIGKILL; the exit status.
        """
        if not self.started:
            return None
        if signum is not None:
            self.send_signal(signum)
        if not self.wait(timeout, cancel):
            self.send_signal(signal.SIGKILL)
            self.wait()
        return self.returncode

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the process wrote, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def exit_report(self) -> str:
        """``name exited with status N`` and the end of its log."""
        status = self.returncode
        how = (
            f"was killed by signal {-status}"
            if status and status < 0
            else f"exited with status {status}"
        )
        tail = self.log_tail()
        return f"{self.name} {how}; the end of {self.log_path}:\n{tail}" if tail else how

    def _close_log(self) -> None:
        if self._log is not None and (self._popen is None or self._popen.poll() is not None):
            self._log.close()
            self._log = None


def service_process(
    name: str,
    module: str,
    env: Mapping[str, str],
    paths: StatePaths,
    record: ProcessRecord | None = None,
) -> ManagedProcess:
    """``python -m module`` as the process ``name``, logged to ``logs/NAME.log``.

    The working directory is the state folder: the services read ``.env`` from
    theirs, and every setting of a local run comes from ``env`` instead.
    """
    argv = [sys.executable, "-m", module]
    log_path = paths.logs / f"{name}.log"
    return ManagedProcess(name, argv, env, paths.root, log_path, record=record)


def wait_until(
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    watch: Sequence[ManagedProcess] = (),
) -> None:
    """Poll ``ready`` until true; fail early if a watched process exits."""
    deadline = time.monotonic() + timeout
    while True:
        for process in watch:
            if not process.alive:
                raise StartupFailed(f"while waiting for {what}: {process.exit_report()}")
        if ready():
            return
        if time.monotonic() >= deadline:
            names = ", ".join(f"{p.name} ({p.log_path})" for p in watch)
            raise StartupFailed(f"{what} not ready after {timeout:.0f} s; see {names}")
        time.sleep(POLL_INTERVAL)


def wait_healthy(process: ManagedProcess, url: str, timeout: float) -> None:
    """Until ``url`` (a ``/healthz``) answers 200; fail early if ``process`` exits."""

    def healthy() -> bool:
        try:
            return httpx.get(url, timeout=1.0, trust_env=False).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    wait_until(healthy, f"{process.name} ({url})", timeout, [process])
