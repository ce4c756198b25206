"""The echo servers compared: audio_socket, the tutorial's Node server, FastAPI, a minimal echo.

Each is started fresh for every measurement (so its resident memory starts from
the same point), listens on loopback, is pinned to the server core, and is
reached at ``ws://127.0.0.1:PORT/socket``.

The Node peer is carried in ``tools/bench/node_echo/`` (express and express-ws, in the
shape of Vonage's "Call a WebSocket" tutorial). Its locked packages are installed
with ``npm ci`` into ``tools/bench/node_echo/node_modules`` the first time the bench needs
them, and again whenever ``package-lock.json`` changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
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

#: The tutorial's server, carried with the bench.
NODE_ECHO: Final = Path(__file__).resolve().parent / "node_echo"
#: Written into node_modules after ``npm ci``: the hash of the lock file installed.
NODE_STAMP: Final = ".bench-installed"
NPM_CI_TIMEOUT: Final = 600.0


class ServerKind(StrEnum):
    """Which echo server."""

    AUDIO_SOCKET = "audio_socket"
    NODE = "node"
    MINIMAL = "minimal echo"
    #: tools/bench/floor_echo.py: uvloop and one function per frame, no WebSocket library.
    FLOOR = "floor (bare uvloop)"
    #: audio_socket echoing through a coroutine handler (tools/bench/coroutine_echo.py).
    COROUTINE = "audio_socket, coroutine handler"
    #: audio_socket playing a long prompt to each call (tools/bench/prompt_handler.py).
    PROMPTS = "audio_socket, prompts"
    #: tools/bench/fastapi_echo.py under uvicorn, one kind per uvicorn WebSocket implementation.
    FASTAPI_WEBSOCKETS = "FastAPI + uvicorn, websockets"
    FASTAPI_SANSIO = "FastAPI + uvicorn, websockets-sansio"
    FASTAPI_WSPROTO = "FastAPI + uvicorn, wsproto"

    @property
    def uvicorn_ws(self) -> str | None:
        """uvicorn's ``--ws`` of a FastAPI kind; None for the others."""
        return FASTAPI_WS.get(self)


#: The FastAPI peers and the uvicorn WebSocket implementation of each.
FASTAPI_WS: Final = {
    ServerKind.FASTAPI_WEBSOCKETS: "websockets",
    ServerKind.FASTAPI_SANSIO: "websockets-sansio",
    ServerKind.FASTAPI_WSPROTO: "wsproto",
}
FASTAPI_KINDS: Final = tuple(FASTAPI_WS)
#: The kinds that are audio_socket itself, with one handler or another.
AUDIO_SOCKET_KINDS: Final = (ServerKind.AUDIO_SOCKET, ServerKind.COROUTINE, ServerKind.PROMPTS)


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
    """Whether the Node peer can run here (its code, node and npm)."""
    return (NODE_ECHO / "index.js").is_file() and all(
        shutil.which(tool) for tool in ("node", "npm")
    )


def install_node_echo(folder: Path = NODE_ECHO) -> Path:
    """``npm ci`` in ``folder`` unless its lock file is installed already; its ``index.js``.

    A lock on the folder keeps two benches (or a bench and the smoke test) from
    installing into the same ``node_modules`` at once.
    """
    if not all(shutil.which(tool) for tool in ("node", "npm")):
        raise BenchError("the Node peer needs node and npm on PATH")
    wanted = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    stamp = folder / "node_modules" / NODE_STAMP
    with open(folder / "package.json", "rb") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not stamp.is_file() or stamp.read_text().strip() != wanted:
            _npm_ci(folder)
            stamp.write_text(wanted + "\n")
    return folder / "index.js"


def _npm_ci(folder: Path) -> None:
    argv = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(
            argv, cwd=folder, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"npm ci in {folder} took over {NPM_CI_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(
            f"npm ci in {folder} failed (status {done.returncode}): {npm_error(done.stderr)}"
        )


def npm_error(stderr: str) -> str:
    """The line of npm's error output that says what went wrong."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()]
    said = [line for line in lines if line and not line.startswith(("code ", "A complete log"))]
    return said[0] if said else "no error message"


def start_server(procs: Processes, kind: ServerKind, cpus: set[int]) -> Server:
    """Start one echo server pinned to ``cpus`` and wait until it is ready."""
    port = free_port()
    env = dict(os.environ)
    secret: str | None = None
    if kind in AUDIO_SOCKET_KINDS:
        secret = secrets.token_urlsafe(32)
        env |= {
            "SOCKET_TOKEN_SECRET": secret,
            "AUDIO_HOST": LOOPBACK,
            "AUDIO_PORT": str(port),
            "MAX_CALLS": "2000",
            "LOG_LEVEL": "INFO",
        }
        if kind is ServerKind.PROMPTS:
            env["AUDIO_HANDLER"] = "bench.prompt_handler:PromptHandler"
        elif kind is ServerKind.COROUTINE:
            env["AUDIO_HANDLER"] = "bench.coroutine_echo:echo"
        argv = [sys.executable, "-m", "audio_socket"]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    elif kind is ServerKind.NODE:
        env |= {"QUIET": "1", "HOST": LOOPBACK}
        argv = ["node", str(install_node_echo()), str(port)]
    elif (ws := kind.uvicorn_ws) is not None:
        argv = [sys.executable, "-m", "bench.fastapi_echo", str(port), ws]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    else:
        module = "bench.floor_echo" if kind is ServerKind.FLOOR else "bench.minimal_echo"
        argv = [sys.executable, "-m", module, str(port)]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    process = procs.start(kind.name.lower(), argv, env=env, cpus=cpus)
    if kind in AUDIO_SOCKET_KINDS:
        wait_ready(process, http_ok(f"http://{LOOPBACK}:{port}/healthz"))
    else:
        wait_ready(process, tcp_open(port), 30.0)
    return Server(kind, process, port, secret)
