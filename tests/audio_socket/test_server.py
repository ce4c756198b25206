"""Socket tests against the real server, on a loopback port from the OS."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audio_socket.errors import Outcome
from audio_socket.handlers import CallHandler
from audio_socket.handlers.base import CallControl
from audio_socket.logs import REDACTED
from audio_socket.protocol import CallStart
from audio_socket.server import AudioServer
from tests.audio_socket import custom_handler
from tests.audio_socket.helpers import (
    FRAME_BYTES,
    OTHER_SECRET,
    calls_with,
    close_of,
    connected_message,
    eventually,
    http_get,
    make_settings,
    mint,
    open_call,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)


def metric(server: AudioServer, name: str) -> float:
    """An unlabelled sample from the server's metrics."""
    return server.metrics.registry.get_sample_value(name) or 0.0


async def echo_round(ws: ClientConnection, frames: list[bytes]) -> list[bytes]:
    """Send ``frames`` one by one; return what came back for each."""
    received = []
    for frame in frames:
        await ws.send(frame)
        message = await ws.recv()
        assert isinstance(message, bytes)
        received.append(message)
    return received


# Health and metrics


async def test_health_is_ok_without_credential(server: AudioServer) -> None:
    """/healthz answers 200 {"status":"ok"} to anyone: Caddy does not route it."""
    status, headers, body = await http_get(server.port, "/healthz")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"status": "ok"}


async def test_metrics_are_prometheus_text(server: AudioServer) -> None:
    """/metrics serves the Prometheus exposition, no credential needed."""
    status, headers, body = await http_get(server.port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for name in (
        "audio_calls_active",
        "audio_calls_total",
        "audio_frames_received_total",
        "audio_frames_sent_total",
        "audio_bytes_received_total",
        "audio_bytes_sent_total",
        "audio_dtmf_events_total",
        "audio_handshake_seconds_bucket",
    ):
        assert name in text


async def test_other_paths_are_404(server: AudioServer) -> None:
    """Only /socket, /healthz and /metrics exist."""
    status, _, _ = await http_get(server.port, "/")
    assert status == 404
    with pytest.raises(InvalidStatus) as caught:
        async with open_socket(server.port, mint(), path="/other"):
            pass
    assert caught.value.response.status_code == 404


# Echo


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_echo_is_byte_exact_at_each_rate(rate: int) -> None:
    """Every frame comes back unchanged, in order, at 8, 16 and 24 kHz."""
    size = FRAME_BYTES[rate]
    frames = [os.urandom(size) for _ in range(50)]
    async with running() as server, open_call(server.port, rate=rate) as ws:
        assert await echo_round(ws, frames) == frames


@pytest.mark.parametrize(
    "call_uuid",
    ["63f61863-4a51-4f6b-86e1-46edebcf9356", "aaaaaaaabbbbccccdddd0123456789ab"],
    ids=["dashed", "32-hex"],
)
async def test_both_uuid_forms_are_admitted(server: AudioServer, call_uuid: str) -> None:
    """An app leg's dashed uuid and an inbound phone leg's 32 hex digits both admit a call."""
    frames = [os.urandom(FRAME_BYTES[16000]) for _ in range(5)]
    async with open_call(server.port, call_uuid=call_uuid) as ws:
        assert await echo_round(ws, frames) == frames


async def test_delayed_echo_arrives_after_the_delay() -> None:
    """ECHO_DELAY_MS=200: each frame returns 200 ms later, give or take a frame."""
    settings = make_settings(echo_delay_ms=200)
    delay, frame_s = 0.2, 0.02
    frames = [os.urandom(640) for _ in range(15)]
    loop = asyncio.get_running_loop()

    async def receive(ws: ClientConnection) -> list[tuple[float, bytes]]:
        received = []
        for _ in frames:
            frame = await ws.recv(decode=False)
            received.append((loop.time(), frame))
        return received

    server = AudioServer(settings, settings.handler_factory())
    async with server, open_call(server.port) as ws:
        receiving = asyncio.ensure_future(receive(ws))
        sent_at = []
        for frame in frames:
            sent_at.append(loop.time())
            await ws.send(frame)
            await asyncio.sleep(frame_s)  # paced like a phone: 50 frames a second
        received = await receiving
    assert [frame for _, frame in received] == frames
    lags = sorted(at - sent for (at, _), sent in zip(received, sent_at, strict=True))
    # Never early by more than a frame; late only by scheduling (loose on a loaded box).
    assert lags[0] >= delay - frame_s
    assert lags[len(lags) // 2] <= delay + frame_s + 0.1


async def test_echo_reframes_odd_sizes_into_whole_frames(server: AudioServer) -> None:
    """Odd-sized input comes back as whole frames of the stream, never short ones."""
    stream = os.urandom(640 * 5)
    pieces = [stream[:100], stream[100:1000], stream[1000:1001], stream[1001:]]
    async with open_call(server.port) as ws:
        for piece in pieces:
            await ws.send(piece)
        received = [await ws.recv(decode=False) for _ in range(5)]
    assert all(len(frame) == 640 for frame in received)
    assert b"".join(received) == stream


async def test_events_are_not_echoed_and_do_not_end_the_call(server: AudioServer) -> None:
    """DTMF (both forms), unknown and malformed text are swallowed; audio goes on."""
    frame = os.urandom(640)
    async with open_call(server.port) as ws:
        for text in (
            '{"event":"websocket:dtmf","digit":"5","duration":260}',
            '{"event":"websocket:dtmf","dtmf":{"digit":"#","duration":100}}',
            '{"event":"websocket:something-new"}',
            "not json",
        ):
            await ws.send(text)
        assert await echo_round(ws, [frame]) == [frame]
    await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    assert metric(server, "audio_dtmf_events_total") == 2


async def test_message_at_the_size_limit_is_accepted(server: AudioServer) -> None:
    """A 64 KiB message is allowed; its audio comes back re-framed."""
    async with open_call(server.port) as ws:
        await ws.send(bytes(65536))
        received = [await ws.recv() for _ in range(65536 // 640)]
    assert all(frame == bytes(640) for frame in received)


# The first message


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b"\x00" * 640, 1003),
        ("not json", 1007),
        ('{"content-type":"audio/l16;rate=16000","call_uuid":"call-1"}', 1008),
        (connected_message(rate=44100), 1003),
        ('{"event":"websocket:connected","call_uuid":"call-1"}', 1008),
        (connected_message(pad="x" * 5000), 1009),
    ],
    ids=["binary", "not-json", "no-event", "unsupported-rate", "no-content-type", "over-4-KiB"],
)
async def test_bad_first_message_gets_its_close_code(
    server: AudioServer, first: str | bytes, code: int
) -> None:
    """Each bad first message closes the socket with the code that fits it."""
    async with open_socket(server.port, mint()) as ws:
        await ws.send(first)
        close_code, reason = await close_of(ws)
    assert close_code == code
    assert reason
    await eventually(lambda: calls_with(server, Outcome.REJECTED_PROTOCOL) == 1)


async def test_invalid_utf8_first_message_is_1007(server: AudioServer) -> None:
    """A text frame that is not UTF-8 is invalid payload."""
    async with open_socket(server.port, mint()) as ws:
        await ws.send(b"\xff\xfe{", text=True)
        close_code, _ = await close_of(ws)
    assert close_code == 1007


async def test_first_message_for_another_call_is_1008(server: AudioServer) -> None:
    """call_uuid must equal the credential's sub (docs/contract.md)."""
    async with open_socket(server.port, mint("call-1")) as ws:
        await ws.send(connected_message("call-2"))
        assert await close_of(ws) == (1008, "credential does not match call")
    await eventually(lambda: calls_with(server, Outcome.REJECTED_CREDENTIAL) == 1)


async def test_silent_peer_is_closed_at_the_handshake_timeout() -> None:
    """A socket that never sends websocket:connected does not hold a slot."""
    async with running(handshake_timeout=0.3) as server, open_socket(server.port, mint()) as ws:
        close_code, reason = await close_of(ws)
    assert close_code == 1008
    assert reason == "no websocket:connected in time"


async def test_bad_first_message_is_logged_once(
    server: AudioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected call makes exactly one log line, with its code and reason."""
    with caplog.at_level(logging.INFO, logger="audio_socket"):
        async with open_socket(server.port, mint()) as ws:
            await ws.send("not json")
            await close_of(ws)
        await eventually(lambda: calls_with(server, Outcome.REJECTED_PROTOCOL) == 1)
    records = [r for r in caplog.records if r.name == "audio_socket"]
    assert [r.getMessage() for r in records] == ["call rejected"]
    assert records[0].__dict__["close_code"] == 1007


# Credentials


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


# Limits


async def test_oversize_message_is_closed_1009(server: AudioServer) -> None:
    """A message over MAX_MESSAGE_BYTES (64 KiB) closes the call with 1009."""
    async with open_call(server.port) as ws:
        await ws.send(bytes(65537))
        close_code, _ = await close_of(ws)
    assert close_code == 1009
    await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1)


async def test_call_beyond_max_calls_is_503() -> None:
    """MAX_CALLS live calls: one more is refused with 503; a freed slot admits again."""
    async with running(max_calls=2) as server:
        async with open_call(server.port, "a"), open_call(server.port, "b") as b:
            await echo_round(b, [bytes(640)])
            with pytest.raises(InvalidStatus) as caught:
                async with open_call(server.port, "c"):
                    pass
            assert caught.value.response.status_code == 503
        await eventually(lambda: server.live_calls == 0)
        async with open_call(server.port, "d") as d:
            assert await echo_round(d, [bytes(640)]) == [bytes(640)]
    assert calls_with(server, Outcome.REJECTED_LIMIT) == 1


async def stalled_client(port: int) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer, so a stall shows fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def flood(ws: ClientConnection) -> None:
    """Send silence until the connection fails (or 20 s pass)."""
    async with asyncio.timeout(20):
        while True:
            await ws.send(bytes(640))


async def test_peer_that_stops_reading_is_closed() -> None:
    """A peer that keeps sending but never reads is aborted after SEND_TIMEOUT."""
    async with running(outbound_buffer_bytes=4096, send_timeout=0.3) as server:
        sock = await stalled_client(server.port)
        async with open_socket(server.port, mint(), sock=sock) as ws:
            await ws.send(connected_message())
            ws.transport.pause_reading()
            with pytest.raises(ConnectionClosed):
                await flood(ws)
        await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1)
        assert server.live_calls == 0


BLAST_FRAMES = 16_000


class BlastHandler(CallHandler):
    """Sends five minutes of audio at once, never waiting: a misbehaving handler.

    10 MB: more than the kernel's socket buffers take (tcp_wmem tops out at 4 MB).
    """

    def on_start(self, call: CallControl, start: CallStart) -> None:
        call.send_audio(bytes(start.frame_bytes * BLAST_FRAMES))


async def test_outbound_buffer_has_a_hard_cap() -> None:
    """A handler that floods a non-reading peer is aborted at once, not after a timeout."""
    async with running(BlastHandler, outbound_buffer_bytes=4096, send_timeout=60) as server:
        sock = await stalled_client(server.port)
        async with open_socket(server.port, mint(), sock=sock) as ws:
            ws.transport.pause_reading()
            await ws.send(connected_message())
            await eventually(lambda: calls_with(server, Outcome.REJECTED_LIMIT) == 1, within=5)
            assert metric(server, "audio_bytes_sent_total") < 640 * BLAST_FRAMES
            ws.transport.resume_reading()


async def test_peer_that_ignores_pings_is_closed() -> None:
    """Keepalive: no pong within PING_TIMEOUT closes the call with 1011."""
    async with running(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5) as server:
        async with open_call(server.port) as ws:
            ws.transport.pause_reading()
            await eventually(lambda: calls_with(server, Outcome.FAILED) == 1)
            ws.transport.resume_reading()
            close_code, _ = await close_of(ws)
        assert close_code in (1011, 1006)


# Handlers


async def test_custom_handler_controls_the_call() -> None:
    """A third handler re-frames its audio and sends clear, notify and close."""
    custom_handler.ENDED.clear()
    async with running(custom_handler.make_handler) as server, open_call(server.port) as ws:
        stream = os.urandom(640 * 3)
        for i in range(3):
            await ws.send(stream[i * 640 : (i + 1) * 640])
        assert b"".join([await ws.recv(decode=False) for _ in range(3)]) == stream
        await ws.send('{"event":"websocket:dtmf","digit":"1"}')
        assert json.loads(await ws.recv()) == {"action": "clear"}
        await ws.send('{"event":"websocket:dtmf","digit":"2"}')
        assert json.loads(await ws.recv()) == {"action": "notify", "payload": {"digit": "2"}}
        await ws.send(os.urandom(100))
        await ws.send('{"event":"websocket:dtmf","digit":"3"}')
        flushed = await ws.recv()
        assert len(flushed) == 640
        assert flushed[100:] == bytes(540)
        await ws.send('{"event":"websocket:dtmf","digit":"9"}')
        assert await close_of(ws) == (1000, "bye")
    assert [(end.code, end.outcome) for end in custom_handler.ENDED] == [(1000, Outcome.COMPLETED)]


async def test_handler_failure_closes_1011() -> None:
    """An exception in a handler closes that call with 1011; the server goes on."""
    async with running(custom_handler.make_handler) as server:
        async with open_call(server.port) as ws:
            await ws.send('{"event":"websocket:dtmf","digit":"#"}')
            close_code, _ = await close_of(ws)
        assert close_code == 1011
        await eventually(lambda: calls_with(server, Outcome.FAILED) == 1)
        async with open_call(server.port, "call-2") as ws:
            frame = os.urandom(640)
            await ws.send(frame)
            assert await ws.recv() == frame


# Observability


async def test_call_is_counted_and_logged(
    server: AudioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One call: one start line, one end line, and the traffic in the metrics."""
    frames = [os.urandom(640) for _ in range(10)]
    with caplog.at_level(logging.INFO, logger="audio_socket"):
        async with open_call(server.port, "call-1") as ws:
            await echo_round(ws, frames)
            assert metric(server, "audio_calls_active") == 1
            assert metric(server, "audio_frames_received_total") == 10
        await eventually(lambda: calls_with(server, Outcome.COMPLETED) == 1)
    assert metric(server, "audio_calls_active") == 0
    assert metric(server, "audio_frames_sent_total") == 10
    assert metric(server, "audio_bytes_received_total") == 6400
    assert metric(server, "audio_bytes_sent_total") == 6400
    assert metric(server, "audio_handshake_seconds_count") == 1
    lines = [r for r in caplog.records if r.name == "audio_socket"]
    assert [r.getMessage() for r in lines] == ["call started", "call ended"]
    ended = lines[1].__dict__
    assert ended["call_uuid"] == "call-1"
    assert (ended["rate"], ended["frames_in"], ended["frames_out"]) == (16000, 10, 10)
    assert (ended["close_code"], ended["outcome"]) == (1000, Outcome.COMPLETED)
    assert ended["duration_s"] >= 0


# Drain


async def test_health_fails_while_draining() -> None:
    """A health probe already connected when the drain starts gets 503 draining."""
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        server.stop_accepting()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert response.startswith(b"HTTP/1.1 503")
    assert response.endswith(b'{"status":"draining"}')


async def test_silent_tcp_connection_is_dropped_at_the_handshake_timeout() -> None:
    """A TCP connection that never sends its HTTP request is dropped."""
    async with running(handshake_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(10):
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()


async def test_drain_refuses_new_calls_and_keeps_live_ones() -> None:
    """Draining stops listening at once; a live call still echoes; then 1001."""
    async with running() as server, open_call(server.port) as ws:
        port = server.port
        server.stop_accepting()
        with pytest.raises(OSError):  # noqa: PT011 - refused, reset: any socket error
            await asyncio.open_connection("127.0.0.1", port)
        frame = os.urandom(640)
        assert await echo_round(ws, [frame]) == [frame]
        assert metric(server, "audio_draining") == 1
        await server.close_calls()
        assert await close_of(ws) == (1001, "server draining")
        await eventually(lambda: calls_with(server, Outcome.DRAINED) == 1)


# One socket per credential, one per call (docs/security.md)


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
