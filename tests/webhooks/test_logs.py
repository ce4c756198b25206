"""Tests for webhooks.logs: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from webhooks.logs import configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Give the root logger back its handlers and level after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_records_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """A record with extra fields becomes one JSON object with level, logger and fields."""
    configure_logging("INFO")
    logging.getLogger("webhooks").info("call event", extra={"status": "completed"})
    logging.getLogger("uvicorn.error").info("x", extra={"color_message": "\x1b[1mx"})
    logging.getLogger("webhooks").debug("hidden at INFO")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "webhooks"
    assert first["message"] == "call event"
    assert first["status"] == "completed"
    assert "time" in first
    assert "color_message" not in second
