"""``python -m audio_socket``: check the configuration, serve, drain, exit.

Exit status: 0 after a drain, 1 when the address cannot be bound, 2 on a
configuration error (one ``configuration error: NAME: what is wrong`` line per
problem on stderr).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from app_credentials import ConfigurationError
from audio_socket.errors import CannotListen
from audio_socket.logs import configure_logging
from audio_socket.service import run
from audio_socket.settings import load_settings

EXIT_CANNOT_LISTEN = 1
EXIT_CONFIGURATION = 2

log = logging.getLogger("audio_socket")


def main() -> int:
    """Run the audio service; return the process exit status."""
    try:
        settings = load_settings()
        handler = settings.handler()
    except ConfigurationError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIGURATION
    configure_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=settings.loop_factory()) as runner:
            runner.run(run(settings, handler))
    except CannotListen as exc:
        log.error("cannot listen", extra={"error": str(exc)})  # noqa: TRY400 - no traceback
        return EXIT_CANNOT_LISTEN
    return 0


if __name__ == "__main__":
    sys.exit(main())
