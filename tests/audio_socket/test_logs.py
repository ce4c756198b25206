"""Logs: JSON lines on stderr, library noise kept down, credentials redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from audio_socket.logs import LIBRARY_LOGGER, REDACTED, configure_logging, library_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root and library loggers back as they were."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {name: logging.getLogger(name).level for name in (LIBRARY_LOGGER, "websockets")}
    yield
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_records_are_json_lines_with_their_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON object per line, with time, level, logger, message and extras."""
    configure_logging("INFO")
    logging.getLogger("audio_socket").info("call started", extra={"call_uuid": "c1", "rate": 8000})
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["message"] == "call started"
    assert (record["level"], record["logger"]) == ("INFO", "audio_socket")
    assert (record["call_uuid"], record["rate"]) == ("c1", 8000)
    assert record["time"].endswith("+00:00")


@pytest.mark.usefixtures("restore_logging")
def test_library_lines_wait_for_debug() -> None:
    """websockets' per-connection INFO lines are hidden unless LOG_LEVEL=DEBUG."""
    configure_logging("INFO")
    assert not library_logger().isEnabledFor(logging.INFO)
    configure_logging("DEBUG")
    assert library_logger().isEnabledFor(logging.DEBUG)


def test_authorization_header_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """The handshake's Authorization value never reaches a handler."""
    with caplog.at_level(logging.DEBUG, logger=LIBRARY_LOGGER):
        library_logger().debug("< %s: %s", "Authorization", "Bearer secret.token.here")
        library_logger().debug("< %s: %s", "Host", "localhost")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"< Authorization: {REDACTED}", "< Host: localhost"]
