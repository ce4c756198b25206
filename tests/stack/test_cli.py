"""``python -m stack run``: configuration from .env and the environment, port errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stack.cli import main, read_dotenv, service_environ, stopping_message


def test_dotenv_lines_comments_and_quotes(tmp_path: Path) -> None:
    """KEY=VALUE lines; comments, blanks and lines without '=' skipped; quotes removed."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# a comment\n\nECHO_DELAY_MS=200\nGREETING_TEXT='Hello there'\n"
        'export LOG_LEVEL="DEBUG"\nnot a setting\nEMPTY=\n'
    )
    assert read_dotenv(dotenv) == {
        "ECHO_DELAY_MS": "200",
        "GREETING_TEXT": "Hello there",
        "LOG_LEVEL": "DEBUG",
        "EMPTY": "",
    }
    assert read_dotenv(tmp_path / "missing") == {}


def test_environment_wins_over_dotenv_and_empties_are_dropped() -> None:
    """The process environment overrides .env; an empty value counts as unset."""
    merged = service_environ(
        {"ECHO_DELAY_MS": "100", "SOCKET_TOKEN_SECRET": ""},
        {"ECHO_DELAY_MS": "200", "LOG_LEVEL": "DEBUG", "AUDIO_HANDLER": ""},
    )
    assert merged == {"ECHO_DELAY_MS": "100", "LOG_LEVEL": "DEBUG"}


def test_taken_https_port_is_reported_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 naming the port; no process was started, so no log exists."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        status = main(["run", "--https-port", str(port), "--state-dir", str(tmp_path)])
    assert status == 1
    out = capsys.readouterr().out
    assert f"port {port} on 127.0.0.1 (Caddy HTTPS) is already in use" in out
    assert "--https-port" in out
    assert not (tmp_path / "logs").exists()


def test_replica_count_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """Zero replicas is a usage error."""
    assert main(["run", "--audio-replicas", "0"]) == 2
    assert "--audio-replicas" in capsys.readouterr().err


def test_stopping_message_says_what_drains_and_for_how_long() -> None:
    """Live calls per replica and DRAIN_TIMEOUT; no calls, no wait promised."""
    message = stopping_message({"audio-1": 2, "audio-2": 0, "audio-3": 1}, 30.0)
    assert message.startswith("stopping: draining 3 live calls (audio-1: 2, audio-3: 1)")
    assert "for at most 30 s (DRAIN_TIMEOUT)" in message
    assert "1 live call (audio-2: 1)" in stopping_message({"audio-2": 1}, 2.5)
    assert stopping_message({"audio-1": 0}, 30.0).startswith("stopping: no live calls")
