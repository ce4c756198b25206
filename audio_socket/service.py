"""The process around the server: run until a signal, then drain.

On SIGTERM or SIGINT (docs/architecture.md, "Draining, not dropping"): stop listening at
once, so the proxy's dial fails fast and it picks another replica; health
fails; live calls go on. The process returns when the last call ends. At
``DRAIN_TIMEOUT``, or on a second signal, the remaining calls are closed with
1001 (going away): Vonage then posts ``disconnected`` and the webhooks service
reconnects the call elsewhere (docs/vonage-protocol.md §4).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from audio_socket.errors import CannotListen
from audio_socket.loading import LoadedHandler
from audio_socket.server import AudioServer
from audio_socket.settings import AudioSettings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("audio_socket")


async def run(settings: AudioSettings, handler: LoadedHandler) -> None:
    """Serve until a stop signal, then drain; return when every call has ended.

    Raises:
        CannotListen: The address is taken or not this host's.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        (hurry if stop.is_set() else stop).set()
        log.info("signal received", extra={"signal": signum.name})

    # Handlers first: a signal that arrives just after "listening" is logged
    # must start a drain, not kill the process.
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        server = AudioServer(settings, handler)
        try:
            await server.start()
        except OSError as exc:
            address = f"{settings.audio_host}:{settings.audio_port}"
            raise CannotListen(f"{address}: {exc.strerror or exc}") from exc
        try:
            await stop.wait()
            await drain(server, settings.drain_timeout, hurry)
        finally:
            if server.voice_api is not None:
                server.voice_api.close()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def drain(server: AudioServer, drain_timeout: float, hurry: asyncio.Event) -> None:
    """Stop taking calls; let live ones end within ``drain_timeout``; close the rest 1001."""
    server.stop_accepting()
    # Logged once the listener is closed: whoever reads it can rely on that.
    log.info("draining", extra={"calls": server.live_calls, "drain_timeout": drain_timeout})
    closed = asyncio.ensure_future(server.wait_closed())
    hurried = asyncio.ensure_future(hurry.wait())
    try:
        await asyncio.wait({closed, hurried}, timeout=drain_timeout, return_when="FIRST_COMPLETED")
        if not closed.done():
            log.info("closing remaining calls", extra={"calls": server.live_calls})
            await server.close_calls()
        await closed
    finally:
        hurried.cancel()
    log.info("drained")
