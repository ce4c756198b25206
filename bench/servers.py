"""The echo servers compared: audio_socket, the tutorial's Node server, a minimal echo.

Each is started fresh for every measurement (so its resident memory starts from
the same point), listens on loopback, is pinned to the server core, and is
reached at ``ws://127.0.0.1:PORT/socket``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from bench.procs import (
    LOOPBACK,
    BenchError,
    Process,
    Processes,
    free_port,
    http_ok,
    tcp_open,
    wait_ready,
)

SEED_NODE: Final = Path(
    os.environ.get("SEED_NODE_RUN", "/work/shared/peers/seed-node/run")
).expanduser()
NODE_READY_TIMEOUT: Final = 180.0  # the first start installs its locked packages


class ServerKind(StrEnum):
    """Which echo server."""

    AUDIO_SOCKET = "audio_socket"
    NODE = "node"
    MINIMAL = "minimal echo"
    #: bench/floor_echo.py: uvloop and one function per frame, no WebSocket library.
    FLOOR = "floor (bare uvloop)"


@dataclass(frozen=True)
class Server:
    """A started echo server."""

    kind: ServerKind
    process: Process
    port: int
    #: SOCKET_TOKEN_SECRET the server checks credentials with (audio_socket only).
    token_secret: str | None

    @property
    def socket_uri(self) -> str:
        """Where a call connects directly."""
        return f"ws://{LOOPBACK}:{self.port}/socket"


def node_available() -> bool:
    """Whether the Node peer can run here (its script, node and npm)."""
    return SEED_NODE.is_file() and all(shutil.which(tool) for tool in ("node", "npm"))


def start_server(procs: Processes, kind: ServerKind, cpus: set[int]) -> Server:
    """Start one echo server pinned to ``cpus`` and wait until it is ready."""
    port = free_port()
    env = dict(os.environ)
    secret: str | None = None
    if kind is ServerKind.AUDIO_SOCKET:
        secret = secrets.token_urlsafe(32)
        env |= {
            "SOCKET_TOKEN_SECRET": secret,
            "AUDIO_HOST": LOOPBACK,
            "AUDIO_PORT": str(port),
            "MAX_CALLS": "2000",
            "LOG_LEVEL": "INFO",
        }
        argv = [sys.executable, "-m", "audio_socket"]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    elif kind is ServerKind.NODE:
        if not node_available():
            raise BenchError(f"the Node peer needs {SEED_NODE}, node and npm")
        env["QUIET"] = "1"
        argv = [str(SEED_NODE), str(port)]
    else:
        module = "bench.floor_echo" if kind is ServerKind.FLOOR else "bench.minimal_echo"
        argv = [sys.executable, "-m", module, str(port)]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    process = procs.start(kind.name.lower(), argv, env=env, cpus=cpus)
    if kind is ServerKind.AUDIO_SOCKET:
        wait_ready(process, http_ok(f"http://{LOOPBACK}:{port}/healthz"))
    else:
        timeout = NODE_READY_TIMEOUT if kind is ServerKind.NODE else 30.0
        wait_ready(process, tcp_open(port), timeout)
    return Server(kind, process, port, secret)
