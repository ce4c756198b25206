"""Socket credentials at the upgrade: 401s, secrets kept out of logs, one socket per call."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.exceptions import InvalidStatus

from audio_socket.errors import Outcome
from audio_socket.logs import REDACTED
from audio_socket.server import AudioServer
from tests.audio_socket.helpers import (
    OTHER_SECRET,
    calls_with,
    close_of,
    connected_message,
    echo_round,
    eventually,
    mint,
    open_call,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "token",
    [
        None,
        mint(secret=OTHER_SECRET),
        mint(algorithm="HS512"),
        mint(ttl=-60),
        mint(aud="someone-else"),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYWxsLTEifQ.",
    ],
    ids=["no-header", "wrong-key", "other-algorithm", "expired", "wrong-audience", "alg-none"],
)
async def test_bad_credential_is_401_before_the_upgrade(
    server: AudioServer, token: str | None
) -> None:
    """No socket opens without a valid credential; the answer is HTTP 401."""
    with pytest.raises(InvalidStatus) as caught:
        async with open_socket(server.port, token):
            pass
    assert caught.value.response.status_code == 401
    assert calls_with(server, Outcome.REJECTED_CREDENTIAL) == 1


async def test_credentials_never_reach_the_logs(
    server: AudioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither an accepted nor a refused token appears in any log record."""
    good, bad = mint(), mint(secret=OTHER_SECRET)
    with caplog.at_level(logging.DEBUG):
        async with open_call(server.port) as ws:
            await echo_round(ws, [bytes(640)])
        with pytest.raises(InvalidStatus):
            async with open_socket(server.port, bad):
                pass
        await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    # The server's records only: the test's own client logs its request headers.
    server_records = [r for r in caplog.records if r.name.startswith("audio_socket")]
    assert any(r.name == "audio_socket.websockets" for r in server_records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server_records)
    assert REDACTED in logged  # websockets' DEBUG header lines were there, blanked
    assert good not in logged
    assert bad not in logged
    assert SECRET_FRAGMENT not in logged


SECRET_FRAGMENT = "test-socket-token-secret"


@pytest.mark.parametrize("missing", ["jti", "attempt"])
async def test_credential_without_jti_or_attempt_is_401(server: AudioServer, missing: str) -> None:
    """jti and attempt are required claims."""
    token = mint(jti=None) if missing == "jti" else mint(attempt=None)
    with pytest.raises(InvalidStatus) as caught:
        async with open_socket(server.port, token):
            pass
    assert caught.value.response.status_code == 401


async def test_a_credential_opens_one_socket(server: AudioServer) -> None:
    """The same credential again, even after its socket closed, is 401."""
    token = mint()
    async with open_socket(server.port, token) as ws:
        await ws.send(connected_message())
        await echo_round(ws, [bytes(640)])
    for _ in range(3):
        with pytest.raises(InvalidStatus) as caught:
            async with open_socket(server.port, token):
                pass
        assert caught.value.response.status_code == 401


async def test_a_full_replica_does_not_use_up_the_credential() -> None:
    """Refused with 503 at MAX_CALLS, the credential still opens its socket once room frees."""
    async with running(max_calls=1) as server:
        token = mint("call-2")
        async with open_call(server.port, "call-1"):
            with pytest.raises(InvalidStatus) as caught:
                async with open_socket(server.port, token):
                    pass
            assert caught.value.response.status_code == 503
        await eventually(lambda: server.live_calls == 0)
        async with open_socket(server.port, token) as ws:
            await ws.send(connected_message("call-2"))
            await echo_round(ws, [bytes(640)])


async def test_a_later_attempt_supersedes_the_live_socket(server: AudioServer) -> None:
    """Attempt 2 of a call closes attempt 1's socket with 1000 superseded; 1 and 2 again: 409."""
    async with open_socket(server.port, mint(attempt=1)) as first:
        await first.send(connected_message())
        await echo_round(first, [bytes(640)])
        async with open_socket(server.port, mint(attempt=2)) as second:
            assert await close_of(first) == (1000, "superseded")
            await second.send(connected_message(attempt=2))
            await echo_round(second, [bytes(640)])
            for attempt in (1, 2):
                with pytest.raises(InvalidStatus) as caught:
                    async with open_socket(server.port, mint(attempt=attempt)):
                        pass
                assert caught.value.response.status_code == 409
    await eventually(lambda: calls_with(server, Outcome.SUPERSEDED) == 1)


async def test_a_full_replica_admits_a_call_superseding_itself() -> None:
    """At MAX_CALLS, a reconnect of a live call takes its own slot: not 503."""
    async with (
        running(max_calls=1) as server,
        open_call(server.port, "call-1") as first,
        open_socket(server.port, mint(attempt=2)) as second,
    ):
        assert await close_of(first) == (1000, "superseded")
        await second.send(connected_message(attempt=2))
        await echo_round(second, [bytes(640)])


async def test_an_unsupported_websocket_version_is_426(server: AudioServer) -> None:
    """RFC 6455 §4.2.2: another version gets 426 naming version 13, before any credential."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"GET /socket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 8\r\nAuthorization: Bearer " + mint().encode() + b"\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 426")
    assert "Sec-WebSocket-Version: 13" in lines
    assert server.live_calls == 0
