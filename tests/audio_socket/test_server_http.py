"""The server's HTTP side: health, metrics, unknown paths, and health while draining."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from audio_socket.server import AudioServer
from tests.audio_socket.helpers import (
    http_get,
    mint,
    open_socket,
    running,
)

pytestmark = pytest.mark.timeout(30)


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
