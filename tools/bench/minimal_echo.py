"""The floor to compare against: a minimal echo on websockets' own asyncio server.

``python -m bench.minimal_echo PORT`` serves ``ws://127.0.0.1:PORT/`` (any path)
and sends every message back, text included, as the tutorial's Node server
does. No credential, no metrics, no logging: what the library costs by itself.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(connection: ServerConnection) -> None:
    """Send each message back as it came."""
    async for message in connection:
        await connection.send(message)


async def main(port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(echo, "127.0.0.1", port, max_size=65536, ping_interval=None):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
