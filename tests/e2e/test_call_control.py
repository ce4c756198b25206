"""Call control through the real stack: the handler's REST requests reach the
simulator's Voice REST API (HTTPS, RS256 JWT), and the simulator ends, transfers
and speaks into the call as Vonage would. A deliberate end never reconnects."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report
from simulator.rest_api.link import ApiLink
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.dialer import Dialer
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallOptions, CallRecord
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient
from stack import Stack
from tests.e2e.conftest import start_stack
from tests.e2e.control_handler import SAID_DTMF, SAY_TEXT, TRANSFER_TEXT
from tests.e2e.helpers import TIMEOUT, answered_call_endpoint, first_message, wait_idle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica running the control handler; REST requests may take 10 s."""
    started = start_stack(
        tmp_path_factory.mktemp("control"),
        audio_replicas=1,
        AUDIO_HANDLER="tests.e2e.control_handler:ControlHandler",
        VONAGE_API_TIMEOUT="10",
    )
    try:
        yield started
    finally:
        started.stop()


async def _link(stack: Stack, delay: float = 0.0) -> ApiLink:
    files = stack.voice_api_files
    assert files is not None
    link = ApiLink(
        f"https://{stack.voice_api_host}",
        stack.voice_api_token,
        client_ssl_context(files.ca),
        delay,
    )
    await link.open()
    return link


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
    return build_report(record)


@pytest.fixture
async def link(stack: Stack) -> AsyncIterator[ApiLink]:
    """This test process's link to the stack's Voice REST API."""
    wait_idle(stack)
    opened = await _link(stack)
    try:
        yield opened
    finally:
        await opened.close()


def _statuses(report: CallReport) -> list[str]:
    return [str(event["kind"]) for event in report.events]


async def test_hangup_after_2_s_ends_the_call_with_no_reconnect(
    stack: Stack, link: ApiLink
) -> None:
    """DTMF at 2 s: the handler hangs up through REST; Vonage closes the socket and
    posts completed, never disconnected; the request carried this application's JWT."""
    report = await _call(stack, 6.0, "10", link)  # "1" at 2 s; "0" does nothing
    assert report.passed, report.error
    assert report.ended_by == "application: hangup"
    assert len(report.legs) == 1
    assert "disconnected" not in _statuses(report)
    assert _statuses(report)[-1] == "completed"
    assert 1.5 < report.duration_s < 5.5  # the caller's audio would have run 6 s
    first, last = report.legs[0]["frames"]
    assert 1.8 < (last - first) * 0.02 < 3.0  # audio stopped at the hang-up, ~2 s in
    (request,) = report.rest_requests
    assert (request["method"], request["action"], request["status"]) == ("PUT", "hangup", 204)
    assert request["path"] == f"/v1/calls/{report.uuid}"
    files = stack.voice_api_files
    assert files is not None
    claims = request["claims"]
    assert claims["application_id"] == files.application_id
    assert claims["exp"] > time.time() > claims["iat"] - 5
    assert claims["jti"]


async def test_closing_instead_is_reconnected(stack: Stack, link: ApiLink) -> None:
    """The same moment, the socket closed instead: disconnected, and a new connect."""
    report = await _call(stack, 4.0, "2", link)
    assert report.passed, report.error
    assert report.ended_by == "caller"
    assert "disconnected" in _statuses(report)
    assert len(report.legs) == 2
    assert len(report.reconnects) == 1
    assert report.rest_requests == []


async def test_transfer_to_a_talk(stack: Stack, link: ApiLink) -> None:
    """The new NCCO runs: its talk is spoken, a transfer event posted, no disconnected."""
    report = await _call(stack, 6.0, "30", link)
    assert report.ended_by == "application: transfer"
    assert report.talks[-1] == TRANSFER_TEXT
    assert "transfer" in _statuses(report)
    assert "disconnected" not in _statuses(report)
    assert report.error is None, report.error
    (request,) = report.rest_requests
    assert (request["action"], request["status"]) == ("transfer", 204)


async def test_say_and_send_dtmf(stack: Stack, link: ApiLink) -> None:
    """say() and send_dtmf() go into the call; the echo goes on to the end."""
    report = await _call(stack, 6.0, "40", link)
    assert report.passed, report.error
    assert report.rest_talks == [SAY_TEXT]
    assert report.rest_dtmf == [SAID_DTMF]
    assert [(r["action"], r["status"]) for r in report.rest_requests] == [
        ("talk", 200),
        ("dtmf", 200),
    ]
    assert report.ended_by == "caller"


async def test_a_slow_rest_answer_does_not_slow_another_call(stack: Stack, link: ApiLink) -> None:
    """The simulator holds a say() 5 s; a concurrent call on the same replica keeps
    echoing on schedule all the while (the REST request is off the event loop)."""
    slow = await _link(stack, delay=5.0)
    try:
        started = time.monotonic()
        slow_call = asyncio.create_task(_call(stack, 10.0, "40", slow))
        other = await _call(stack, 10.0, "", link)
        slow_report = await slow_call
    finally:
        await slow.close()
    assert other.passed, other.error
    assert other.frames.lost == 0
    assert other.round_trip_ms["max"] < 500, other.round_trip_ms
    # The say() was asked at ~3.3 s and answered 5 s later, within the other call.
    assert slow_report.rest_talks == [SAY_TEXT]
    assert time.monotonic() - started >= 9.5


async def test_forged_region_url_in_the_first_message_is_never_contacted(
    stack: Stack, link: ApiLink
) -> None:
    """Whoever opens the socket writes its first message; a host named there is never
    sent the application's JWT. The request goes to the configured API instead."""
    trap = socket.create_server(("127.0.0.1", 0))
    trap.setblocking(False)
    trap_port = trap.getsockname()[1]
    endpoint = await answered_call_endpoint(stack)
    call_uuid = endpoint.headers["call_uuid"]
    asked: list[str] = []

    class Target:
        def api_command(self, command: object) -> tuple[int, object]:
            asked.append(getattr(command, "action", "?"))
            return 200, {"message": "Talk started", "uuid": call_uuid}

        def api_refused(self, request: dict[str, object]) -> None:
            asked.append("refused")

    await link.register(call_uuid, Target())
    forged = json.loads(first_message(endpoint))
    forged |= {
        "region_url": f"https://127.0.0.1:{trap_port}",
        "region": f"127.0.0.1:{trap_port}",
        "api_host": f"127.0.0.1:{trap_port}",
    }
    from websockets.asyncio.client import connect  # noqa: PLC0415

    try:
        async with connect(
            endpoint.uri,
            ssl=stack.ssl_context(),
            additional_headers={"Authorization": endpoint.authorization},
            open_timeout=TIMEOUT,
        ) as call:
            await call.send(json.dumps(forged))
            await call.send(json.dumps({"event": "websocket:dtmf", "digit": "4"}))
            deadline = time.monotonic() + TIMEOUT
            while "talk" not in asked:
                assert time.monotonic() < deadline, "the say() never reached the API"
                await asyncio.sleep(0.05)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody ever connected
    finally:
        trap.close()
        await link.unregister(call_uuid)


def test_the_local_key_is_pkcs8_and_private(stack: Stack) -> None:
    """make run's application key: PKCS#8 as the SDK needs, readable by its owner only."""
    files = stack.voice_api_files
    assert files is not None
    assert files.private_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert files.private_key.stat().st_mode & 0o077 == 0
    assert uuid.UUID(files.application_id)
    assert Path(files.env_file).stat().st_mode & 0o077 == 0


def answer_metadata(params: Mapping[str, object]) -> dict[str, object]:
    """ANSWER_METADATA of the stack below: a tag for the handler, from the answer."""
    return {"tag": "vip", "to": params.get("to")}


@pytest.fixture(scope="module")
def outbound_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The control handler, and the answer metadata hook above."""
    started = start_stack(
        tmp_path_factory.mktemp("outbound"),
        audio_replicas=1,
        AUDIO_HANDLER="tests.e2e.control_handler:ControlHandler",
        ANSWER_METADATA="tests.e2e.test_call_control:answer_metadata",
    )
    try:
        yield started
    finally:
        started.stop()


async def test_outbound_call_dialled_through_the_simulator(outbound_stack: Stack) -> None:
    """python -m webhooks dial: POST /v1/calls through the SDK; the simulator's callee
    answers; the answer webhook connects it through Caddy as an inbound call, with our
    number as caller id; on_start knows it is outbound, with the metadata."""
    stack = outbound_stack
    link = await _link(stack)
    signer = Signer(stack.secrets.vonage_signature_secret)
    webhooks = WebhookClient(client_ssl_context(stack.cafile), signer)
    pacer = Pacer()
    context = CallContext(webhooks, pacer, SignalCache(3.0), signer, api_link=link)
    records: list[CallRecord] = []
    template = CallOptions(stack.base_url, 3.0, dtmf="5", instant_talk=True)
    try:
        await link.serve_dialer(Dialer(context, template, records.append))
        dialled = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "webhooks", "dial", "447700900001", "--from", "447700900000"],
            env=stack.service_environment(),
            cwd=stack.paths.root,
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
            check=False,
        )
        assert dialled.returncode == 0, dialled.stderr
        created = json.loads(dialled.stdout)
        deadline = time.monotonic() + TIMEOUT * 2
        while not records:
            assert time.monotonic() < deadline, "the outbound call never ended"
            await asyncio.sleep(0.1)
    finally:
        await pacer.close()
        await webhooks.aclose()
        await link.close()
    (record,) = records
    report = build_report(record)
    assert report.passed, report.error
    assert report.uuid == created["uuid"]
    assert created["direction"] == "outbound"
    answer_exchange = report.events[0]
    assert answer_exchange["url"].endswith("/webhooks/answer/outbound")
    conversation = created["conversation_uuid"]
    assert report.rest_talks == [
        f"outbound from 447700900000 to 447700900001 conversation {conversation}"
        " attempt 1 resumed False custom {'tag': 'vip', 'to': '447700900001'}"
    ]
