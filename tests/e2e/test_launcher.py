"""The launcher itself: ``python -m stack run`` as ``make run`` starts it, and a Stack's
state folder, secrets and clean stop."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import ssl
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from stack import Stack, StackConfig
from stack.errors import StateDirInUse
from stack.ports import pick_free_port
from stack.processes import wait_until
from tests.e2e.conftest import e2e_environ, start_stack
from tests.e2e.helpers import (
    FRAME_BYTES,
    TIMEOUT,
    fetch_ncco,
    open_call,
    post_event,
    socket_endpoint,
    stack_client,
)

pytestmark = pytest.mark.e2e

READY_LINE = "The local stack is running at "


def _read_lines(stream: queue.Queue[str | None], pipe: object) -> None:
    for line in pipe:  # type: ignore[attr-defined]
        stream.put(line)
    stream.put(None)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_command_serves_until_signalled_then_stops_everything(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """`python -m stack run` says what runs, serves TLS, and stops it all on a signal."""
    port = pick_free_port(["127.0.0.1"])
    argv = [sys.executable, "-m", "stack", "run", "--audio-replicas", "2"]
    argv += ["--https-port", str(port), "--state-dir", str(tmp_path)]
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        argv, env=e2e_environ(ECHO_DELAY_MS="40"), cwd=tmp_path, stdout=subprocess.PIPE, text=True
    ) as launcher:
        threading.Thread(target=_read_lines, args=(lines, launcher.stdout), daemon=True).start()
        output: list[str] = []
        try:
            while not any(READY_LINE in line for line in output):
                line = lines.get(timeout=60)
                assert line is not None, "".join(output)
                output.append(line)
            while not any("Ctrl-C stops everything" in line for line in output):
                output.append(lines.get(timeout=TIMEOUT) or "")
            text = "".join(output)
            assert f"{READY_LINE}https://localhost:{port}" in text
            assert f"python -m simulator call https://localhost:{port}" in text
            pids = [int(pid) for pid in re.findall(r"pid (\d+)", text)]
            assert len(pids) == 5  # caddy, webhooks, voice-api, audio-1, audio-2
            assert re.findall(r"127\.0\.0\.[23]:\d+  \(ws, behind Caddy\)", text)
            assert len(re.findall(r"\(ws, behind Caddy\)", text)) == 2
            assert "http://127.0.0.2" not in text
            assert "handler delayed echo (40 ms) (AUDIO_HANDLER)" in text
            assert f"STACK_STATE_DIR={tmp_path} make call BASE_URL=https://localhost:{port}" in text
            cafile = tmp_path / "caddy/data/caddy/pki/authorities/local/root.crt"
            verify = ssl.create_default_context(cafile=str(cafile))
            response = httpx.get(f"https://localhost:{port}/", verify=verify, trust_env=False)
            assert response.status_code == httpx.codes.NOT_FOUND
        finally:
            launcher.send_signal(signum)
            status = launcher.wait(TIMEOUT * 3)
    rest = []
    while (line := lines.get(timeout=TIMEOUT)) is not None:
        rest.append(line)
    assert status == 0
    assert rest[0].startswith("stopping: no live calls")
    assert rest[-1] == "stopped\n"
    assert not [pid for pid in pids if _pid_alive(pid)]


async def test_stack_state_folder_secrets_and_stop(tmp_path: Path) -> None:
    """Given secrets are used and written 0600; after stop nothing is left running."""
    signature_secret = "signature-secret-given-by-the-environment-" + uuid.uuid4().hex
    stack = start_stack(tmp_path, audio_replicas=1, VONAGE_SIGNATURE_SECRET=signature_secret)
    try:
        assert stack.secrets.vonage_signature_secret == signature_secret
        assert stack.secrets.generated == {"SOCKET_TOKEN_SECRET"}
        secrets_env = tmp_path / "secrets.env"
        assert stat.S_IMODE(secrets_env.stat().st_mode) == 0o600
        assert f"VONAGE_SIGNATURE_SECRET={signature_secret}\n" in secrets_env.read_text()
        assert stack.cafile == tmp_path / "caddy/data/caddy/pki/authorities/local/root.crt"
        assert {p.name for p in (tmp_path / "logs").iterdir()} == {
            "caddy.log", "webhooks.log", "audio-1.log", "voice-api.log",
        }  # fmt: skip
        async with stack_client(stack) as client:  # signed with the given secret
            await fetch_ncco(client, stack, str(uuid.uuid4()))
        processes = [
            stack.caddy, stack.webhooks, stack.voice_api, *(r.process for r in stack.replicas)
        ]  # fmt: skip
    finally:
        stack.stop()
    assert all(p is not None and not p.alive for p in processes)
    assert stack.replicas[0].process.returncode == 0  # drained, not killed
    stack.stop()  # a second stop is harmless


async def test_stop_lets_a_live_call_finish_through_caddy_and_webhooks(tmp_path: Path) -> None:
    """While the replica drains, the call is still echoed and its events are answered."""
    stack = start_stack(tmp_path, audio_replicas=1, DRAIN_TIMEOUT="20")
    stopping: asyncio.Future[None] | None = None
    try:
        call_uuid = str(uuid.uuid4())
        async with stack_client(stack) as client:
            endpoint = socket_endpoint(await fetch_ncco(client, stack, call_uuid))
            async with open_call(stack, endpoint) as call:
                await call.send(b"\0" * FRAME_BYTES)
                await call.recv()
                assert await asyncio.to_thread(stack.live_calls) == {"audio-1": 1}
                stopping = asyncio.get_running_loop().run_in_executor(None, stack.stop)
                (replica,) = stack.replicas
                # stop() has begun when the replica leaves DNS; then it drains.
                await asyncio.to_thread(
                    wait_until, lambda: not stack.listed_addresses(), "stop", TIMEOUT
                )
                frame = os.urandom(FRAME_BYTES)
                await call.send(frame)
                async with asyncio.timeout(TIMEOUT):
                    assert await call.recv() == frame
            event = {
                "uuid": call_uuid, "conversation_uuid": f"CON-{uuid.uuid4()}",
                "from": "447700900001", "to": "447700900000", "status": "completed",
                "timestamp": "2026-11-24T08:00:00.000Z", "direction": "inbound",
            }  # fmt: skip
            assert await post_event(client, stack, event) in {200, 204}
        async with asyncio.timeout(TIMEOUT * 2):
            await stopping
        assert replica.process.returncode == 0
    finally:
        if stopping is None:
            stack.stop()


async def test_second_stack_on_a_running_stacks_folder_changes_nothing(stack3: Stack) -> None:
    """It is refused before writing anything: the running stack's secrets still sign."""
    root = stack3.paths.root
    secrets_before = stack3.paths.secrets_env.read_bytes()
    logs_before = sorted(p.name for p in stack3.paths.logs.iterdir())
    second = Stack(StackConfig(state_dir=root, https_port=0, environ=e2e_environ()))
    with pytest.raises(StateDirInUse, match=re.escape(f"{root} is in use")):
        second.start()
    second.stop()  # nothing of the first stack's is touched by the second one's stop
    assert stack3.paths.secrets_env.read_bytes() == secrets_before
    assert sorted(p.name for p in stack3.paths.logs.iterdir()) == logs_before
    assert not stack3.paths.previous_logs.exists()
    async with stack_client(stack3) as client:
        await fetch_ncco(client, stack3, str(uuid.uuid4()))
