"""Processes the bench starts: pinned to a core, read from /proc, always stopped.

A bench run owns every process it starts through one :class:`Processes` (a
context manager): whatever happens — a failure, Ctrl-C — each is sent SIGTERM,
then SIGKILL, and its whole process group goes with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Protocol

import httpx

LOOPBACK: Final = "127.0.0.1"
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE")
STOP_TIMEOUT: Final = 5.0
READY_TIMEOUT: Final = 60.0


class BenchError(Exception):
    """A bench run cannot go on (a server did not start, a tool is missing)."""


def free_port() -> int:
    """A TCP port on loopback that is free now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def cores() -> tuple[set[int], set[int]]:
    """(server cores, load cores): one core each on a 2-core box, split in halves above."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return set(available), set(available)
    half = len(available) // 2
    return set(available[:half]), set(available[half:])


@dataclass(frozen=True)
class Usage:
    """One look at a process: CPU seconds so far, resident bytes, open sockets."""

    cpu_s: float
    rss_bytes: int
    sockets: int


def read_usage(pid: int) -> Usage:
    """CPU (user + system, /proc/PID/stat), RSS (/proc/PID/statm) and socket count."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    sockets = 0
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                sockets += os.readlink(fd.path).startswith("socket:")
    return Usage(cpu, rss, sockets)


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a running process (Go and Node start several) to ``cpus``."""
    for task in os.scandir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


class Watched(Protocol):
    """What a load run watches: a process it can read and check."""

    def usage(self) -> Usage:
        """CPU, RSS and sockets now."""

    def check_alive(self) -> None:
        """Raise when the process has gone."""


@dataclass(frozen=True)
class ForeignProcess:
    """A process started by someone else (the stack launcher), watched by pid."""

    name: str
    pid: int

    def usage(self) -> Usage:
        """CPU, RSS and sockets now."""
        return read_usage(self.pid)

    def check_alive(self) -> None:
        """Raise when the process has gone."""
        if not Path(f"/proc/{self.pid}").exists():
            raise BenchError(f"{self.name} (pid {self.pid}) exited during the run")


class Process:
    """One started program, its output in a log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def usage(self) -> Usage:
        """CPU, RSS and sockets now."""
        return read_usage(self.pid)

    def check_alive(self) -> None:
        """Raise with the log's tail when the process has exited."""
        if self.popen.poll() is not None:
            raise BenchError(
                f"{self.name} exited with status {self.popen.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL after a while."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        with contextlib.suppress(ProcessLookupError):  # what it left behind
            os.killpg(self.popen.pid, signal.SIGKILL)


class Processes:
    """Everything a run starts; stopped on exit, in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Process] = []

    def __enter__(self) -> Processes:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        """Stop every process still running, the last started first."""
        while self.started:
            self.started.pop().stop()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cpus: set[int] | None = None,
        cwd: Path | None = None,
        stdout: int | IO[bytes] | None = None,
    ) -> Process:
        """Start ``argv`` in its own session, pinned to ``cpus`` before it runs."""
        log_path = self.log_dir / f"{name}.log"
        command = list(argv)
        if cpus:
            command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                command,
                env=dict(env if env is not None else os.environ),
                cwd=cwd or self.log_dir,
                stdin=subprocess.DEVNULL,
                stdout=log if stdout is None else stdout,
                stderr=log,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.started.append(process)
        return process

    def stop(self, process: Process) -> None:
        """Stop one process now."""
        process.stop()
        if process in self.started:
            self.started.remove(process)


def wait_ready(process: Process, probe: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    """Poll ``probe`` until it holds; fail when the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        with contextlib.suppress(OSError, httpx.HTTPError):
            if probe():
                return
        time.sleep(0.05)
    raise BenchError(f"{process.name} was not ready within {timeout:g} s:\n{process.log_tail()}")


def tcp_open(port: int, host: str = LOOPBACK) -> Callable[[], bool]:
    """A probe: something accepts on ``host:port``."""

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=1):
            return True

    return probe


def http_ok(url: str, verify: str | bool = True) -> Callable[[], bool]:
    """A probe: ``url`` answers 200."""

    def probe() -> bool:
        return httpx.get(url, timeout=2, verify=verify, trust_env=False).status_code == 200

    return probe
