"""Helpers for calls placed in process: a call held open while a test acts on it, an
answer route from a function, and a connect back to a real audio server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from simulator.net import client_ssl_context
from simulator.rest_api.link import ApiLink
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions, CallRecord
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import Timeouts, WebhookClient
from tests.audio_socket.helpers import mint
from tests.simulator.conftest import FakeStack
from tests.simulator.fakes import SECRET, Reply, Request, connect_ncco


@asynccontextmanager
async def placing(
    stack: FakeStack, seconds: float, link: ApiLink | None = None, **options: Any
) -> AsyncIterator[Call]:
    """A call from the simulator to ``stack``, for the block to run and act on."""
    signer = Signer(SECRET, "key", "app")
    webhooks = WebhookClient(client_ssl_context(None), signer, Timeouts())
    pacer = Pacer()
    context = CallContext(webhooks, pacer, SignalCache(seconds), signer, api_link=link)
    call = Call(CallOptions(stack.hooks.base_url, seconds, instant_talk=True, **options), context)
    try:
        yield call
    finally:
        await pacer.close()
        await webhooks.aclose()


async def place(stack: FakeStack, seconds: float) -> CallRecord:
    """Run one call to its end."""
    async with placing(stack, seconds) as call:
        return await call.run()


def answering(ncco: Callable[[Request], list[dict[str, Any]]]) -> Callable[..., Awaitable[Reply]]:
    """An answer route returning ``ncco(request)``."""

    async def answer(request: Request) -> Reply:
        return 200, ncco(request)

    return answer


def connect_to(uri: str, call_uuid: str, events_url: str, attempt: int) -> list[dict[str, Any]]:
    """A connect to a real audio server, with the credential it checks for ``call_uuid``."""
    [_, connect] = connect_ncco(uri, events_url, attempt=attempt)
    endpoint = connect["endpoint"][0]
    endpoint["headers"]["call_uuid"] = call_uuid
    endpoint["authorization"]["value"] = f"Bearer {mint(call_uuid)}"
    return [connect]
