"""The example handlers through the real stack: the DTMF menu's hang-up and transfer
reach the simulator's Voice REST API, and the caller hears the menu, not an echo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report
from simulator.rest_api.link import ApiLink
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient
from stack import Stack
from tests.e2e.conftest import start_stack
from tests.e2e.helpers import wait_idle

pytestmark = pytest.mark.e2e

TRANSFER_NUMBER = "447700900001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica running the DTMF menu, with call control and a transfer number."""
    started = start_stack(
        tmp_path_factory.mktemp("menu"),
        audio_replicas=1,
        AUDIO_HANDLER="menu",
        MENU_TRANSFER_NUMBER=TRANSFER_NUMBER,
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def link(stack: Stack) -> AsyncIterator[ApiLink]:
    """This test process's link to the stack's Voice REST API."""
    wait_idle(stack)
    files = stack.voice_api_files
    assert files is not None
    opened = ApiLink(
        f"https://{stack.voice_api_host}", stack.voice_api_token, client_ssl_context(files.ca)
    )
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _call(stack: Stack, seconds: float, dtmf: str, link: ApiLink) -> CallReport:
    signer = Signer(stack.secrets.vonage_signature_secret)
    webhooks = WebhookClient(client_ssl_context(stack.cafile), signer)
    pacer = Pacer()
    context = CallContext(webhooks, pacer, SignalCache(seconds), signer, api_link=link)
    try:
        options = CallOptions(stack.base_url, seconds, dtmf=dtmf, instant_talk=True)
        record = await Call(options, context).run()
    finally:
        await pacer.close()
        await webhooks.aclose()
    return build_report(record, "audio")


async def test_hash_says_goodbye_then_hangs_up(stack: Stack, link: ApiLink) -> None:
    """# at 2 s: the menu's tone is heard, then the REST hang-up; no reconnect follows."""
    report = await _call(stack, 4.0, "#", link)
    assert report.passed, report.error
    assert report.ended_by == "application: hangup"
    assert len(report.legs) == 1
    assert "disconnected" not in [event["kind"] for event in report.events]
    assert report.heard.audible_s > 1.0  # the menu prompt and the goodbye, not silence
    (request,) = report.rest_requests
    assert (request["action"], request["status"]) == ("hangup", 204)


async def test_zero_asks_for_a_transfer_and_survives_its_refusal(
    stack: Stack, link: ApiLink
) -> None:
    """0 at 2 s: a REST transfer to the number. The simulator connects sockets only, so
    it refuses the phone NCCO (400): the menu plays its error tone and the call goes on."""
    report = await _call(stack, 4.0, "0", link)
    (request,) = report.rest_requests
    assert (request["action"], request["status"]) == ("transfer", 400)
    assert report.passed, report.error
    assert report.ended_by == "caller"
    assert len(report.legs) == 1  # the socket stayed open: no reconnect
