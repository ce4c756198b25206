"""``python -m webhooks``: read the settings, then serve the app with uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import resource
import sys
import warnings
from collections.abc import Sequence

import uvicorn
from jwt import InsecureKeyLengthWarning

from app_credentials import ConfigurationError
from webhooks.app import create_app
from webhooks.dial import DialError, dial
from webhooks.logs import configure_logging
from webhooks.settings import Settings, load_settings

# How `python -m webhooks` exits when the configuration is bad (docs/contract.md).
EXIT_CONFIGURATION = 2
#: ``dial``: the call could not be placed.
EXIT_DIAL_FAILED = 1
#: The soft open-files limit asked for when the hard one is unlimited.
OPEN_FILES_CAP = 65536


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; the new soft limit.

    Each request in flight holds a connection from Caddy, and a slow body holds one
    until it is cut (10 s): a thousand of them would pass the usual soft limit of 1024,
    and then a signed answer would find no file descriptor (docs/security.md). Go,
    and so Caddy, raise theirs the same way.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # a lower limit still serves
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(settings: Settings) -> None:
    """Run uvicorn in this process until SIGINT or SIGTERM."""
    raise_open_files_limit()
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


def dial_main(argv: Sequence[str], settings: Settings) -> int:
    """``python -m webhooks dial TO [--from NUMBER]``: one JSON line, or one error line."""
    parser = argparse.ArgumentParser(
        prog="python -m webhooks dial",
        description="Place an outbound call through Vonage's Voice REST API; it reaches"
        " the audio service as an inbound call does (the answer webhook connects it).",
    )
    parser.add_argument("to", metavar="TO", help="E.164 number (digits) or sip: URI to call")
    parser.add_argument("--from", dest="caller", help="your number (default: a random one)")
    args = parser.parse_args(argv)
    try:
        dialled = dial(settings, args.to, args.caller)
    except DialError as exc:
        print(f"dial: {exc}", file=sys.stderr)
        return EXIT_DIAL_FAILED
    print(json.dumps(dataclasses.asdict(dialled)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return EXIT_CONFIGURATION
    if args[:1] == ["dial"]:
        return dial_main(args[1:], settings)
    configure_logging(settings.log_level)
    # Vonage chooses the signature secret's length; PyJWT would warn on every request
    # when it is under 32 bytes, which says nothing the operator can act on per request.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
