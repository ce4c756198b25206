"""``python -m simulator api``: the Voice REST API as its own process (the local stack's).

It prints one line when it listens (``voice api listening on https://HOST:PORT``)
and one per REST request, and serves until SIGTERM or SIGINT. The link token
comes from ``$SIMULATOR_API_TOKEN``: a secret is never on the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from simulator.errors import UsageError
from simulator.rest_api.server import VoiceApiServer

TOKEN_VARIABLE = "SIMULATOR_API_TOKEN"  # noqa: S105 (a name, not a secret)


class _Lines(logging.Handler):
    """One line per REST request on stderr: method, path, status, why refused."""

    def emit(self, record: logging.LogRecord) -> None:
        fields = record.__dict__
        print(
            f"voice api: {fields.get('method')} {fields.get('path')} -> {fields.get('status')}"
            + (f" ({fields['error']})" if fields.get("error") else ""),
            file=sys.stderr,
            flush=True,
        )


async def serve(args: argparse.Namespace, token: str) -> None:
    """Serve until a stop signal."""
    server = VoiceApiServer(
        application_id=args.application_id,
        public_key=args.public_key.read_text(),
        link_token=token,
        certfile=str(args.certfile),
        keyfile=str(args.keyfile),
        host=args.host,
        port=args.port,
    )
    log = logging.getLogger("simulator.rest_api")
    log.addHandler(_Lines())
    log.setLevel(logging.INFO)
    log.propagate = False
    await server.start()
    print(f"voice api listening on https://{args.host}:{server.port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def api_main(args: argparse.Namespace) -> int:
    """The exit status: 0 after a stop, 2 for a bad option."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if len(token) < 16:
        raise UsageError(f"${TOKEN_VARIABLE} must hold the link token (16 characters or more)")
    for path in (args.public_key, args.certfile, args.keyfile):
        if not path.is_file():
            raise UsageError(f"{path} does not exist")
    asyncio.run(serve(args, token))
    return 0
