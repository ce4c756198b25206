"""Structured logs: one JSON object per line on stderr (docs/contract.md).

INFO carries lifecycle events only: listening, call started and ended,
rejections, drain. websockets logs through ``audio_socket.websockets``, kept to
WARNING unless ``LOG_LEVEL=DEBUG`` (it logs a line per connection at INFO, so
every health probe would show). At DEBUG it logs each handshake header: the
credential in ``Authorization`` is redacted before any handler sees it.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LIBRARY_LOGGER: Final = "audio_socket.websockets"
REDACTED: Final = "[redacted]"
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


class RedactCredentials(logging.Filter):
    """Blank the value of credential headers in websockets' ``"%s: %s"`` debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drop the record."""
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], str)
            and args[0].lower() in _SECRET_HEADERS
        ):
            record.args = (args[0], REDACTED)
        return True


def library_logger() -> logging.Logger:
    """The logger websockets gets: credentials redacted, whatever the level."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
    return logger


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON, at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            timestamp="time",  # ISO 8601, UTC
            rename_fields={"levelname": "level", "name": "logger"},
            # websockets adds the connection object itself to its records.
            reserved_attrs=[*RESERVED_ATTRS, "websocket", "taskName"],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    library_level = logging.DEBUG if level == "DEBUG" else logging.WARNING
    library_logger().setLevel(library_level)
    logging.getLogger("websockets").setLevel(library_level)
