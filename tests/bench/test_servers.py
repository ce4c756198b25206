"""The peers: the Node peer's installation (``npm ci`` from the carried lock file, errors
named) and the FastAPI peers under each of uvicorn's WebSocket implementations."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.procs import BenchError, Processes
from bench.servers import (
    FASTAPI_KINDS,
    NODE_ECHO,
    ServerKind,
    install_node_echo,
    npm_error,
    start_server,
)

needs_npm = pytest.mark.skipif(
    not (shutil.which("node") and shutil.which("npm")), reason="needs node and npm"
)


def test_the_peer_is_carried_with_exact_pins() -> None:
    """express and express-ws at exact versions, with the lock file npm generated for them."""
    package = json.loads((NODE_ECHO / "package.json").read_text())
    lock = json.loads((NODE_ECHO / "package-lock.json").read_text())
    assert set(package["dependencies"]) == {"express", "express-ws", "body-parser"}
    for name, version in package["dependencies"].items():
        assert version[0].isdigit(), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert lock["packages"][""]["dependencies"] == package["dependencies"]


def test_npm_error_picks_the_line_that_says_what_went_wrong() -> None:
    """Not the error code, not the pointer to npm's own log."""
    stderr = (
        "npm error code EUSAGE\nnpm error\nnpm error `npm ci` can only install packages"
        " when in sync.\nnpm error A complete log of this run can be found in: x.log\n"
    )
    assert npm_error(stderr) == "`npm ci` can only install packages when in sync."
    assert npm_error("") == "no error message"


@needs_npm
def test_a_lock_file_out_of_step_is_a_bench_error(tmp_path: Path) -> None:
    """npm ci refuses (offline, before fetching anything); the bench says so and why."""
    (tmp_path / "package.json").write_text(
        json.dumps({"name": "x", "version": "1.0.0", "dependencies": {"express": "4.22.3"}})
    )
    root = {"name": "x", "version": "1.0.0"}
    lock = {"name": "x", "version": "1.0.0", "lockfileVersion": 3, "packages": {"": root}}
    (tmp_path / "package-lock.json").write_text(json.dumps(lock))
    with pytest.raises(BenchError, match=r"npm ci in .* failed \(status 1\): `npm ci` can only"):
        install_node_echo(tmp_path)
    assert not (tmp_path / "node_modules" / ".bench-installed").exists()


@pytest.mark.parametrize("kind", FASTAPI_KINDS)
async def test_a_fastapi_peer_echoes_binary_and_text(kind: ServerKind, tmp_path: Path) -> None:
    """Each FastAPI peer runs uvicorn's own WebSocket implementation and echoes what it gets."""
    with Processes(tmp_path) as procs:
        server = await asyncio.to_thread(start_server, procs, kind, set())
        argv = procs.started[0].popen.args
        assert isinstance(argv, list)
        assert argv[-1] == kind.uvicorn_ws
        async with connect(server.socket_uri) as socket:
            await socket.send('{"event": "websocket:connected"}')
            assert await socket.recv() == '{"event": "websocket:connected"}'
            frame = bytes(range(256)) * 2 + bytes(128)
            await socket.send(frame)
            assert await socket.recv() == frame
