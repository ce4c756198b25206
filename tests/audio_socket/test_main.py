"""``python -m audio_socket`` as a process: configuration errors, start, health, stop."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from tests.audio_socket.helpers import SECRET, http_get
from tests.audio_socket.process import audio_service, run_to_exit

pytestmark = pytest.mark.timeout(60)


def test_missing_secret_exits_2_naming_it(tmp_path: Path) -> None:
    """No SOCKET_TOKEN_SECRET: exit status 2 and one line naming it."""
    status, stderr = run_to_exit(tmp_path, SOCKET_TOKEN_SECRET="")
    assert status == 2
    assert stderr.splitlines() == ["configuration error: SOCKET_TOKEN_SECRET: required but not set"]


def test_each_bad_variable_is_one_line_and_no_secret_is_printed(tmp_path: Path) -> None:
    """Several problems: one line each, exit 2, and the short secret never shown."""
    status, stderr = run_to_exit(
        tmp_path,
        SOCKET_TOKEN_SECRET="too-short-to-sign-with",
        MAX_CALLS="lots",
        AUDIO_HANDLER="nowhere:factory",
    )
    assert status == 2
    lines = stderr.splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "AUDIO_HANDLER",
        "MAX_CALLS",
        "SOCKET_TOKEN_SECRET",
    ]
    assert all(line.startswith("configuration error: ") for line in lines)
    assert "too-short-to-sign-with" not in stderr


def test_taken_port_exits_1_with_one_log_line(tmp_path: Path) -> None:
    """A port already bound is reported in one JSON line, exit status 1."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        status, stderr = run_to_exit(tmp_path, AUDIO_PORT=str(port))
    assert status == 1
    record = json.loads(stderr.strip().splitlines()[-1])
    assert record["message"] == "cannot listen"
    assert f"127.0.0.1:{port}" in record["error"]


async def test_serves_health_and_metrics_and_logs_json(tmp_path: Path) -> None:
    """Started, it logs JSON lines with its port and answers /healthz and /metrics."""
    async with audio_service(tmp_path) as service:
        status, _, body = await http_get(service.port, "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, _, body = await http_get(service.port, "/metrics")
        assert status == 200
        assert b"audio_calls_active 0.0" in body
        listening = service.logs[0]
        assert {"time", "level", "logger", "message"} <= listening.keys()
        assert listening["level"] == "INFO"
        assert (listening["message"], listening["handler"]) == ("listening", "echo")
        service.signal(signal.SIGTERM)
        assert await service.exit_status() == 0


async def test_reads_dotenv_from_its_directory_and_stops_on_sigint(tmp_path: Path) -> None:
    """A .env in its directory configures it (the log names the handler); SIGINT exits 0."""
    (tmp_path / ".env").write_text(
        f"SOCKET_TOKEN_SECRET={SECRET}\nMAX_CALLS=3\nECHO_DELAY_MS=120\n"
    )
    async with audio_service(tmp_path, SOCKET_TOKEN_SECRET="") as service:
        listening = await service.wait_for_log("listening")
        assert (listening["max_calls"], listening["handler"]) == (3, "delayed echo (120 ms)")
        service.signal(signal.SIGINT)
        assert await service.exit_status() == 0
        await service.wait_for_log("drained")
