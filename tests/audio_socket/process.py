"""Running ``python -m audio_socket`` as a child process, as a deployment would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.audio_socket.helpers import SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]


def service_env(**overrides: str) -> dict[str, str]:
    """An explicit environment: nothing inherited, loopback, port from the OS."""
    env = {
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SOCKET_TOKEN_SECRET": SECRET,
        "AUDIO_HOST": "127.0.0.1",
        "AUDIO_PORT": "0",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


class AudioProcess:
    """A running service: its port, its JSON log lines, and signals to it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.logs: list[dict[str, Any]] = []
        self.port = 0
        self._changed = asyncio.Condition()
        self._reader = asyncio.ensure_future(self._read_logs())

    async def _read_logs(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"message": line.decode(errors="replace").rstrip()}
            async with self._changed:
                self.logs.append(record)
                self._changed.notify_all()

    async def wait_for_log(self, message: str, within: float = 15.0) -> dict[str, Any]:
        """The first log record with this message, waiting for it if need be."""
        async with asyncio.timeout(within), self._changed:
            while True:
                for record in self.logs:
                    if record.get("message") == message:
                        return record
                if self._reader.done():
                    raise AssertionError(f"process ended before {message!r}: {self.logs}")
                await self._changed.wait()

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the service."""
        self.process.send_signal(signum)

    async def exit_status(self, within: float = 15.0) -> int:
        """Wait for the process to exit; its status."""
        async with asyncio.timeout(within):
            status = await self.process.wait()
            await self._reader
        return status

    async def stop(self) -> None:
        """Kill the process if it still runs, and stop reading its logs."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def audio_service(cwd: Path, **env: str) -> AsyncIterator[AudioProcess]:
    """Start the service in ``cwd``; yield once it logged its bound port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "audio_socket",
        cwd=cwd,
        env=service_env(**env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    service = AudioProcess(process)
    try:
        service.port = int((await service.wait_for_log("listening"))["port"])
        yield service
    finally:
        await service.stop()


def run_to_exit(cwd: Path, **env: str) -> tuple[int, str]:
    """Run the service expecting it to stop by itself; exit status and stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "audio_socket"],
        cwd=cwd,
        env=service_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode, result.stderr
