"""Tests for ``python -m webhooks`` as a real process: start-up, serving, exit status."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.webhooks.conftest import CALL_UUID, SIGNATURE_SECRET, SOCKET_SECRET, sign

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _environment(**variables: str) -> dict[str, str]:
    """Only what the service needs: nothing of the developer's own configuration."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **variables}


def _run(cwd: Path, stderr: Path, **variables: str) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "webhooks"],
            cwd=cwd,
            env=_environment(**variables),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def _wait_healthy(process: subprocess.Popen[bytes], client: httpx.Client, url: str) -> None:
    """Poll /healthz until 200; the poll interval is a wait on the process's exit."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if client.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"python -m webhooks exited with {process.returncode} before serving")
    pytest.fail("python -m webhooks did not become healthy in time")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running `python -m webhooks` on a free loopback port; stopped with SIGTERM after."""
    port = _free_port()
    stderr = tmp_path / "stderr.log"
    process = _run(
        tmp_path,
        stderr,
        PUBLIC_HOST="calls.example.com",
        VONAGE_SIGNATURE_SECRET=SIGNATURE_SECRET,
        SOCKET_TOKEN_SECRET=SOCKET_SECRET,
        WEBHOOKS_HOST="127.0.0.1",
        WEBHOOKS_PORT=str(port),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            _wait_healthy(process, client, f"{base}/healthz")
        yield base, stderr
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the status tells why it ended.
    assert process.returncode in {0, -signal.SIGTERM}
    assert "webhooks stopping" in stderr.read_text()


def test_serves_healthz_and_answers(server: tuple[str, Path]) -> None:
    """The process serves /healthz and a signed answer, URLs from PUBLIC_HOST only."""
    base, _ = server
    with httpx.Client(base_url=base, trust_env=False, timeout=5.0) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        body = json.dumps({"uuid": CALL_UUID, "to": "447700900000"}).encode()
        response = client.post(
            "/webhooks/answer",
            content=body,
            headers={
                "authorization": sign(body),
                "content-type": "application/json",
                "host": "evil.example",
                "x-forwarded-host": "evil.example",
                "x-forwarded-proto": "http",
                "x-forwarded-for": "203.0.113.9",
            },
        )
    assert response.status_code == 200
    connect = response.json()[1]
    assert connect["endpoint"][0]["uri"] == "wss://calls.example.com/socket"
    assert connect["eventUrl"] == ["https://calls.example.com/webhooks/events"]
    assert "server" not in response.headers


def test_logs_are_json_lines_without_secrets(server: tuple[str, Path]) -> None:
    """Every stderr line is one JSON object; no access log, no secret."""
    base, stderr = server
    with httpx.Client(base_url=base, trust_env=False, timeout=5.0) as client:
        body = json.dumps({"uuid": CALL_UUID}).encode()
        client.post(
            "/webhooks/answer",
            content=body,
            headers={"authorization": sign(body), "content-type": "application/json"},
        )
    lines = stderr.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    messages = [record["message"] for record in records]
    assert "webhooks started" in messages
    assert "call answered" in messages
    assert not any("POST /" in message for message in messages)
    text = stderr.read_text()
    assert SIGNATURE_SECRET not in text
    assert SOCKET_SECRET not in text


def test_missing_variable_exits_2_naming_it(tmp_path: Path) -> None:
    """A missing PUBLIC_HOST exits with status 2 and one line naming it, no secret shown."""
    result = subprocess.run(
        [sys.executable, "-m", "webhooks"],
        cwd=tmp_path,
        env=_environment(VONAGE_SIGNATURE_SECRET=SIGNATURE_SECRET, SOCKET_TOKEN_SECRET="short!"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: PUBLIC_HOST: required but not set",
        "configuration error: SOCKET_TOKEN_SECRET: must be at least 32 bytes",
    ]
    assert "short!" not in result.stderr
    assert SIGNATURE_SECRET not in result.stderr
