"""Slow clients (caddy/Caddyfile, docs/security.md): 1,000 trickling webhook bodies held
through Caddy do not keep a signed answer from being served fast; the webhooks service
answers a body that has not arrived in time 408 and closes its connection; Caddy cuts a
slow request head; and a call through the same server outlives those timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import ssl
import time
import uuid
from collections.abc import Iterator

import pytest

from stack import Stack
from tests.e2e.helpers import answer_params, vonage_signature
from tests.reliability.helpers import TIMEOUT, assert_clean, call_group
from webhooks.payloads import BODY_TIMEOUT

pytestmark = pytest.mark.reliability

SLOW_BODIES = 1000
#: TLS handshakes at once while opening them (the test's CPU, not Caddy's, is the limit).
OPENING = 50
#: caddy/Caddyfile's read_header; webhooks/payloads.py's BODY_TIMEOUT (Caddy's read_body
#: is the same), after which a slow body is answered 408 and its connection closed.
READ_HEADER_S = 5.0
READ_BODY_S = BODY_TIMEOUT
SLOW_HEADS = 50
#: Loose: a loaded 2-core machine notices a closed socket late.
CLOSE_SLACK_S = 5.0
#: "Well under a second", on a loaded 2-core machine.
ANSWER_BUDGET_S = 1.0
#: Longer than either timeout: a call that outlives them.
CALL_SECONDS = READ_BODY_S + 3.0
#: Sockets this test holds, and some for the stack's own clients.
OPEN_FILES = SLOW_BODIES + 500


@pytest.fixture
def open_files() -> Iterator[None]:
    """Raise this process's soft open-files limit for the test, then restore it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
    if wanted < OPEN_FILES:
        pytest.skip(f"the hard open-files limit {hard} is below {OPEN_FILES}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class SlowBody:
    """A POST /webhooks/events that promises 60,000 bytes and sends one now and then."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.opened_at = 0.0
        self.closed_at: float | None = None
        self.answer = b""
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, context: ssl.SSLContext) -> None:
        """Connect through TLS and send the head and the body's first byte."""
        port = self.stack.placeholders.https_port
        reader, writer = await asyncio.open_connection(
            "localhost", port, ssl=context, server_hostname="localhost"
        )
        self.opened_at = time.monotonic()
        self.writer = writer
        writer.write(
            (
                f"POST /webhooks/events HTTP/1.1\r\nHost: {self.stack.public_host}\r\n"
                "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
            ).encode()
        )
        await writer.drain()
        self.reader = reader

    async def trickle(self) -> None:
        """One byte every second until Caddy closes the connection; note when."""
        assert self.writer is not None
        reading = asyncio.ensure_future(self.reader.read())
        try:
            while not reading.done():
                if not self.writer.is_closing():
                    self.writer.write(b" ")
                await asyncio.wait([reading], timeout=1.0)
            self.answer = reading.result()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.closed_at = time.monotonic()
            reading.cancel()
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once. A TLS close waits for the peer's close_notify,
        which a connection Caddy still holds open never sends; the socket would then
        be left to the garbage collector (a ResourceWarning in a later test)."""
        if self.writer is not None:
            self.writer.transport.abort()


async def signed_answer_seconds(stack: Stack, context: ssl.SSLContext) -> float:
    """Seconds from connecting to a whole signed answer (a new TLS connection)."""
    body = json.dumps(answer_params(str(uuid.uuid4()))).encode()
    auth = vonage_signature(stack.secrets.vonage_signature_secret, body)
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(
        "localhost", stack.placeholders.https_port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(
            (
                f"POST /webhooks/answer HTTP/1.1\r\nHost: {stack.public_host}\r\n"
                f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + body
        )
        response = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    return time.monotonic() - started


async def test_slow_bodies_do_not_starve_signed_answers(
    hostile_stack: Stack, open_files: None
) -> None:
    """1,000 trickling bodies held open through Caddy: a signed answer meanwhile is
    served in under a second (no file descriptor or worker is used up)."""
    stack = hostile_stack
    context = stack.ssl_context()
    bodies = [SlowBody(stack) for _ in range(SLOW_BODIES)]
    slots = asyncio.Semaphore(OPENING)

    async def open_one(body: SlowBody) -> None:
        async with slots:
            await body.open(context)

    started = time.monotonic()
    try:
        await asyncio.gather(*(open_one(b) for b in bodies))
        opening_s = time.monotonic() - started
        tasks = [asyncio.create_task(b.trickle()) for b in bodies]
        held = sum(b.closed_at is None for b in bodies)
        answer_s = await signed_answer_seconds(stack, context)
    finally:
        for body in bodies:
            body.abort()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(
        f"slow bodies: {SLOW_BODIES} opened in {opening_s:.1f} s, {held} held;"
        f" a signed answer meanwhile {answer_s * 1000:.0f} ms"
    )
    assert opening_s < READ_BODY_S, "the bodies were not all open at once"
    assert held == SLOW_BODIES
    assert answer_s < ANSWER_BUDGET_S


async def test_the_webhooks_service_cuts_a_slow_body(hostile_stack: Stack) -> None:
    """A body still arriving after BODY_TIMEOUT is answered 408 and its connection
    closed by the webhooks service itself, whoever holds it open."""
    stack = hostile_stack
    host, _, port = stack.webhooks_url.removeprefix("http://").partition(":")

    async def slow_body() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        writer.write(
            (
                f"POST /webhooks/events HTTP/1.1\r\nHost: {stack.public_host}\r\n"
                "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
            ).encode()
        )
        answer = b""
        try:
            while time.monotonic() - started < READ_BODY_S + TIMEOUT:
                if not writer.is_closing():
                    writer.write(b" ")
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    continue
                except ConnectionError:  # closed with our trickle unread: a reset
                    break
                if not chunk:
                    break
                answer += chunk
            return time.monotonic() - started, answer
        finally:
            writer.close()

    results = await asyncio.gather(*(slow_body() for _ in range(SLOW_HEADS)))
    for lifetime, answer in results:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert READ_BODY_S - 1 < lifetime < READ_BODY_S + CLOSE_SLACK_S


async def test_slow_request_heads_are_cut(hostile_stack: Stack) -> None:
    """A request head that never ends is closed by Caddy after read_header (5 s)."""
    stack = hostile_stack
    context = stack.ssl_context()

    async def slow_head() -> float:
        reader, writer = await asyncio.open_connection(
            "localhost", stack.placeholders.https_port, ssl=context, server_hostname="localhost"
        )
        started = time.monotonic()
        try:
            writer.write(b"POST /webhooks/events HTTP/1.1\r\nHost: ")
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await asyncio.wait_for(reader.read(), READ_HEADER_S + CLOSE_SLACK_S + TIMEOUT)
            return time.monotonic() - started
        finally:
            writer.close()

    lifetimes = await asyncio.gather(*(slow_head() for _ in range(SLOW_HEADS)))
    assert max(lifetimes) < READ_HEADER_S + CLOSE_SLACK_S


async def test_a_call_outlives_the_servers_timeouts(hostile_stack: Stack) -> None:
    """read_header and read_body are per server, /socket included: a call of 13 s
    through Caddy is not cut by them."""
    async with call_group(hostile_stack, CALL_SECONDS) as group:
        [call] = group.place(1)
        [report] = await group.reports([call])
    assert_clean(report)
    assert len(call.record.legs) == 1  # never cut and reconnected
