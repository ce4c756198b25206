"""``python -m webhooks``: read the settings, then serve the app with uvicorn."""

from __future__ import annotations

import sys
import warnings

import uvicorn
from jwt import InsecureKeyLengthWarning

from webhooks.app import create_app
from webhooks.errors import ConfigurationError
from webhooks.logs import configure_logging
from webhooks.settings import Settings, load_settings

# How `python -m webhooks` exits when the configuration is bad (docs/contract.md).
EXIT_CONFIGURATION = 2


def serve(settings: Settings) -> None:
    """Run uvicorn in this process until SIGINT or SIGTERM."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.webhooks_host,
        port=settings.webhooks_port,
        # Forwarded headers must never change what the app sees (docs/architecture.md: the public
        # host comes from configuration); Caddy is the only client that matters.
        proxy_headers=False,
        server_header=False,
        access_log=False,  # the app logs one structured line per event itself
        log_config=None,  # keep configure_logging's JSON handler
        log_level=settings.log_level.lower(),
        lifespan="on",
        ws="none",
        # uvloop and httptools (both pinned): about a third more signed answers per
        # second on one core than asyncio's loop and h11 (docs/performance.md).
        loop="uvloop",
        http="httptools",
    )
    uvicorn.Server(config).run()


def main() -> int:
    """Entry point; returns the process exit status."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return EXIT_CONFIGURATION
    configure_logging(settings.log_level)
    # Vonage chooses the signature secret's length; PyJWT would warn on every request
    # when it is under 32 bytes, which says nothing the operator can act on per request.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
