"""``python -m simulator phone BASE_URL``: serve the browser phone until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress

from simulator.errors import SimulatorError, UsageError
from simulator.frontends.phone.server import Phone, PhoneServer
from simulator.net import client_ssl_context
from simulator.setup import fail, open_api_link, resolve
from simulator.vonage.webhook import WebhookClient


def loopback(host: str) -> str:
    """``host`` if it is a loopback address; the page must not be reachable from elsewhere."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise UsageError(f"--host must be a loopback address (127.0.0.1, ::1, localhost), not {host!r}")


async def phone_main(args: argparse.Namespace) -> int:
    """Serve the page and its calls; one line on a failure."""
    try:
        return await phone_command(args)
    except SimulatorError as exc:
        return fail(exc)


async def phone_command(args: argparse.Namespace) -> int:
    """Start the phone's server, say where it is, serve until interrupted."""
    host = loopback(args.host)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    setup = resolve(args)
    webhooks = WebhookClient(client_ssl_context(setup.cafile), setup.signer(), setup.timeouts)
    link = await open_api_link(setup)
    phone = Phone(
        setup.base_url,
        webhooks,
        setup.signer(),
        api_link=link,
        expect=setup.expect,
        instant_talk=setup.instant_talk,
        post=not setup.get,
    )
    server = PhoneServer(phone, host, args.port)
    try:
        try:
            await server.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{args.port}: {exc.strerror}") from exc
        print(f"phone: open {server.url} in a browser; calls go to {setup.base_url}", flush=True)
        print("phone: Ctrl-C stops it", flush=True)
        await asyncio.Event().wait()
    finally:
        await server.close()
        await webhooks.aclose()
        if link is not None:
            await link.close()
    return 0
