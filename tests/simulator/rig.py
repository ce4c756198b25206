"""A stand-alone fake stack for measuring the simulator: webhooks + echo socket.

``python -m tests.simulator.rig [--fast] [--tls DIR]`` prints its base URL (and,
with ``--tls``, the root to pass as ``--cafile``) on one line, then serves until
its standard input closes. The NCCO it answers with points at its own echo
socket (``--fast``: the bare one of ``fast_echo.py``), so
``python -m simulator load URL --unsigned ...`` measures the simulator against
a server that costs less than it does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tests.simulator.certs import make_server_cert
from tests.simulator.fakes import FakeSocket, FakeWebhooks, Reply, Request, connect_ncco
from tests.simulator.fast_echo import start_echo


async def serve(tls: Path | None, delay: float, fast: bool) -> None:
    """Serve until stdin closes."""
    context = None
    root = ""
    if tls is not None:
        cert = make_server_cert(tls)
        context = cert.server_context()
        root = str(cert.root)
    host = "localhost" if tls else "127.0.0.1"
    if fast:
        echo = await start_echo(ssl_context=context)
        scheme = "wss" if context else "ws"
        uri = f"{scheme}://{host}:{echo.sockets[0].getsockname()[1]}/socket"
    else:
        socket = await FakeSocket(ssl_context=context, host=host, delay=delay).start()
        uri = socket.uri
    hooks = FakeWebhooks(ssl_context=context, host=host, keep=False)

    async def answer(_request: Request) -> Reply:
        return 200, connect_ncco(uri, f"{hooks.base_url}/webhooks/events")

    hooks.answer = answer
    await hooks.start()
    print(hooks.base_url, root, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await hooks.close()
    if fast:
        echo.close()
    else:
        await socket.close()


def main() -> None:
    """Parse options and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tls", type=Path, help="folder for a throwaway CA and certificate")
    parser.add_argument("--delay", type=float, default=0.0, help="delayed echo, seconds")
    parser.add_argument(
        "--fast", action="store_true", help="a bare echo, cheaper than the simulator"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.tls, args.delay, args.fast))


if __name__ == "__main__":
    main()
