"""The answer webhook under load: signed requests per second on one core, p99 at 200/s.

``python -m webhooks`` runs pinned to the server core; an async httpx client on
the load core sends signed ``GET /webhooks/answer`` requests as Vonage does
(simulator's ``signing`` module). Throughput is a closed loop of
:data:`CONCURRENCY` requests in flight; latency is an open loop paced at a
fixed rate, each request timed from its send to its response, with the client's own
lateness against the schedule reported beside it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np

from bench.procs import LOOPBACK, Process, Processes, free_port, http_ok, wait_ready
from simulator.signing import Signer

CONCURRENCY: Final = 32
PRESIGNED: Final = 512
PACED_CLIENTS: Final = 16


@dataclass(frozen=True)
class WebhooksFigures:
    """Throughput and paced latency of the answer webhook."""

    requests_per_s: float
    server_cpu_percent: float
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed: int
    client_late_p99_ms: float


def start_webhooks(procs: Processes, cpus: set[int]) -> tuple[Process, str, Signer]:
    """``python -m webhooks`` with signature checks on; its URL and a matching signer."""
    port = free_port()
    secret = secrets.token_urlsafe(32)
    env = dict(os.environ) | {
        "PUBLIC_HOST": "localhost:8443",
        "VONAGE_SIGNATURE_SECRET": secret,
        "SOCKET_TOKEN_SECRET": secrets.token_urlsafe(32),
        "WEBHOOKS_HOST": LOOPBACK,
        "WEBHOOKS_PORT": str(port),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    process = procs.start("webhooks", [sys.executable, "-m", "webhooks"], env=env, cpus=cpus)
    url = f"http://{LOOPBACK}:{port}"
    wait_ready(process, http_ok(f"{url}/healthz"))
    return process, url, Signer(secret)


def _params() -> dict[str, str]:
    call = str(uuid.uuid4())
    return {
        "to": "447700900000",
        "from": "447700900123",
        "uuid": call,
        "conversation_uuid": f"CON-{call}",
    }


async def _answer(client: httpx.AsyncClient, url: str, token: str) -> bool:
    response = await client.get(
        f"{url}/webhooks/answer", params=_params(), headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code == 200 and response.content.startswith(b"[")


async def throughput(url: str, signer: Signer, seconds: float) -> int:
    """Answers completed in ``seconds`` with :data:`CONCURRENCY` keep-alive connections.

    A raw HTTP/1.1 client: httpx spends about 0.9 ms of CPU per request, more than
    the server, and would measure itself.
    """
    tokens = [signer.token(b"") for _ in range(PRESIGNED)]
    address = urlsplit(url)
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        i = offset
        try:
            while time.monotonic() < deadline:
                writer.write(_raw_request(address.netloc, tokens[i % PRESIGNED]))
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(_header(head, b"content-length") or b"0")
                body = await reader.readexactly(length)
                done += head.startswith(b"HTTP/1.1 200") and body.startswith(b"[")
                i += CONCURRENCY
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    return done


def _raw_request(host: str, token: str) -> bytes:
    query = urlencode(_params())
    return (
        f"GET /webhooks/answer?{query} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nUser-Agent: bench\r\n\r\n"
    ).encode()


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _client(connections: int) -> httpx.AsyncClient:
    # One small pool per client: httpcore scans its whole pool on every request, which
    # with dozens of connections costs the client more CPU than the server spends.
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, trust_env=False, timeout=10)


async def paced(
    url: str, signer: Signer, rate: float, seconds: float
) -> tuple[list[float], list[float], int]:
    """Requests due every 1/rate s, each signed when sent: latencies and lateness (ms), failures.

    Latency runs from the request's send to its whole response; how late the client
    sent it against its schedule is kept apart, as the simulator does.
    """
    latencies: list[float] = []
    lateness: list[float] = []
    failed = 0
    clients = [_client(4) for _ in range(PACED_CLIENTS)]
    try:

        async def one(i: int, due: float) -> None:
            nonlocal failed
            token = signer.token(b"")
            sent = time.perf_counter()
            lateness.append((sent - due) * 1000)
            try:
                ok = await _answer(clients[i % PACED_CLIENTS], url, token)
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                failed += 1

        start = time.perf_counter() + 0.1
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return latencies, lateness, failed


def measure_webhooks(
    procs: Processes, server_cpus: set[int], seconds: float, rate: float = 200.0
) -> WebhooksFigures:
    """Start the webhooks on one core; throughput, then latency at ``rate``/s."""
    one_core = {min(server_cpus)}
    process, url, signer = start_webhooks(procs, one_core)
    try:
        asyncio.run(paced(url, signer, rate, 1.0))  # warm-up: imports, first connections
        before, started = process.usage().cpu_s, time.monotonic()
        completed = asyncio.run(throughput(url, signer, seconds))
        wall = time.monotonic() - started
        busy = (process.usage().cpu_s - before) / wall * 100
        latencies, lateness, failed = asyncio.run(paced(url, signer, rate, seconds))
    finally:
        procs.stop(process)
    p50, p99, top = np.percentile(latencies or [0.0], [50, 99, 100])
    return WebhooksFigures(
        requests_per_s=completed / wall,
        server_cpu_percent=busy,
        rate=rate,
        p50_ms=float(p50),
        p99_ms=float(p99),
        max_ms=float(top),
        failed=failed,
        client_late_p99_ms=float(np.percentile(lateness or [0.0], 99)),
    )
