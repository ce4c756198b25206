"""The processes of a run, recorded in its state folder, and those a run left behind.

Each child's pid, command line and start time (``/proc/PID/stat`` field 22, in clock
ticks since boot) go to ``processes.json`` as it starts; a clean stop removes the
file. Children die with their launcher (``stack.spawn``), so a process still
running under a recorded pid is rare, but a pid is reused: a process counts as
left over only when its command line and its start time are both the recorded
ones, and it is signalled through a pidfd opened before that check, so the check
and the signal are about the same process.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from stack.errors import LeftoverProcesses
from stack.paths import REPO_ROOT

__all__ = [
    "RECORD_NAME",
    "ProcessRecord",
    "RecordedProcess",
    "check_no_leftovers",
    "find_leftovers",
    "read_record",
    "stop_leftovers",
]

RECORD_NAME: Final = "processes.json"
#: ``starttime``'s place among the fields after the command name's closing ')':
#: field 22 of proc(5), counted from 1, the name being field 2.
_START_TIME_FIELD: Final = 22 - 3


@dataclass(frozen=True)
class RecordedProcess:
    """One process as recorded: enough to tell it from another that reused its pid."""

    name: str
    pid: int
    start_time: int
    argv: tuple[str, ...]

    def describe(self) -> str:
        """``caddy (pid 1234)``."""
        return f"{self.name} (pid {self.pid})"


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[_START_TIME_FIELD])


def command_line(pid: int) -> tuple[str, ...] | None:
    """``pid``'s arguments; None if it is gone (a zombie has none either)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None
    return tuple(os.fsdecode(arg) for arg in raw.rstrip(b"\0").split(b"\0"))


def is_running(process: RecordedProcess) -> bool:
    """Whether the recorded process itself runs now, not another under its pid."""
    return (
        start_time(process.pid) == process.start_time and command_line(process.pid) == process.argv
    )


def recorded(name: str, pid: int, argv: Sequence[str]) -> RecordedProcess | None:
    """``pid`` as it is now, or None if it has already gone."""
    started = start_time(pid)
    return None if started is None else RecordedProcess(name, pid, started, tuple(argv))


class ProcessRecord:
    """``processes.json`` of one run: the launcher and every child it started."""

    def __init__(self, root: Path) -> None:
        self.path = root / RECORD_NAME
        self._lock = threading.Lock()
        self._launcher: RecordedProcess | None = None
        self._children: list[RecordedProcess] = []

    def begin(self) -> None:
        """Start this run's record, replacing the last run's (none of it runs)."""
        with self._lock:
            self._launcher = recorded("launcher", os.getpid(), command_line(os.getpid()) or ())
            self._children = []
            self._write()

    def add(self, name: str, pid: int, argv: Sequence[str]) -> None:
        """Record a child just started (before ``begin``: not recorded)."""
        process = recorded(name, pid, argv)
        with self._lock:
            if self._launcher is None or process is None:
                return
            self._children.append(process)
            self._write()

    def clear(self) -> None:
        """Everything stopped: remove this run's record (never an earlier run's)."""
        with self._lock:
            if self._launcher is not None:
                self.path.unlink(missing_ok=True)
            self._launcher = None

    def _write(self) -> None:
        data = {
            "launcher": asdict(self._launcher) if self._launcher else None,
            "children": [asdict(child) for child in self._children],
        }
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        partial.replace(self.path)


def _from_json(data: object) -> RecordedProcess | None:
    if not isinstance(data, dict):
        return None
    try:
        argv = tuple(str(arg) for arg in data["argv"])
        return RecordedProcess(str(data["name"]), int(data["pid"]), int(data["start_time"]), argv)
    except (KeyError, TypeError, ValueError):
        return None


def read_record(root: Path) -> tuple[RecordedProcess | None, list[RecordedProcess]]:
    """The launcher and children a run recorded in ``root``; nothing if unreadable."""
    try:
        data = json.loads((root / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, []
    if not isinstance(data, dict):
        return None, []
    children = [_from_json(child) for child in data.get("children") or []]
    return _from_json(data.get("launcher")), [c for c in children if c is not None]


def find_leftovers(root: Path) -> list[RecordedProcess]:
    """The children of an earlier run on ``root`` that still run."""
    _, children = read_record(root)
    return [child for child in children if is_running(child)]


def stop_command(root: Path) -> str:
    """The command that stops what a run on ``root`` left over."""
    command = "python -m stack stop"
    if root.resolve() != (REPO_ROOT / ".stack").resolve():
        command += f" --state-dir {shlex.quote(str(root))}"
    return command


def check_no_leftovers(root: Path) -> None:
    """Raise ``LeftoverProcesses`` naming what an earlier run on ``root`` left running.

    Called with the folder's lock held: no launcher runs on it, so what runs was
    left over, and the record of it is kept until it is stopped.
    """
    leftovers = find_leftovers(root)
    if leftovers:
        launcher, _ = read_record(root)
        pids = [(process.name, process.pid) for process in leftovers]
        pid = launcher.pid if launcher is not None else None
        raise LeftoverProcesses(root, pids, pid, stop_command(root))


def stop_leftovers(
    leftovers: Sequence[RecordedProcess], timeout: float, say: Callable[[str], None]
) -> list[RecordedProcess]:
    """SIGTERM to each, up to ``timeout`` for all to exit, then SIGKILL; what is left."""
    pidfds: dict[RecordedProcess, int] = {}
    for process in leftovers:
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(process.pid)
            if is_running(process):  # checked after the pidfd pins the process
                pidfds[process] = fd
                continue
            os.close(fd)
    pinned = list(pidfds)  # the others exited, or their pid is another process's now
    try:
        _signal_all(pidfds, signal.SIGTERM)
        _wait_exits(pidfds, time.monotonic() + timeout)
        stubborn = _signal_all(pidfds, signal.SIGKILL)
        _wait_exits(pidfds, time.monotonic() + timeout)
        for process in pinned:
            if process in pidfds:
                say(f"could not stop {process.describe()}")
            elif process in stubborn:
                say(f"killed {process.describe()}: still running {timeout:g} s after SIGTERM")
            else:
                say(f"stopped {process.describe()}")
        return list(pidfds)
    finally:
        for fd in pidfds.values():
            os.close(fd)


def _signal_all(
    pidfds: dict[RecordedProcess, int], signum: signal.Signals
) -> list[RecordedProcess]:
    sent = []
    for process, fd in pidfds.items():
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signum)
            sent.append(process)
    return sent


def _wait_exits(pidfds: dict[RecordedProcess, int], deadline: float) -> None:
    """Until each pidfd is readable (its process exited) or the deadline; the exited
    ones leave ``pidfds``, their descriptors closed."""
    poller = select.poll()
    by_fd = {fd: process for process, fd in pidfds.items()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    while by_fd and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            os.close(pidfds.pop(by_fd.pop(fd)))
