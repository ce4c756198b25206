"""The answer webhook under load: signed requests per second on one core, p99 at 200/s.

``python -m webhooks`` runs pinned to the server core; a raw HTTP/1.1 keep-alive
client on the load core sends signed ``POST /webhooks/answer`` requests as Vonage
does (simulator's ``signing`` module), each with its own JWT: the service refuses a
``jti`` it has seen. Throughput is a closed loop of
:data:`CONCURRENCY` requests in flight; latency is an open loop paced at a
fixed rate, each request timed from its send to its response, with the client's own
lateness against the schedule reported beside it.

The client is raw because httpx spends about 0.9 ms of CPU per request, more
than the server: timed through httpx, the latency was mostly the client's
(p50 2.6-3.1 ms against the server's 0.36 ms of CPU per answer).
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
from urllib.parse import urlsplit

import numpy as np

from bench.procs import LOOPBACK, Process, Processes, free_port, http_ok, wait_ready
from simulator.vonage.signing import Signer, compact_json

CONCURRENCY: Final = 32
#: Requests signed ahead of the closed loop, per second of it: above any rate reached.
PRESIGNED_PER_S: Final = 6000
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
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
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


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(url: str) -> Stream:
    address = urlsplit(url)
    return await asyncio.open_connection(address.hostname, address.port)


async def _answer(stream: Stream, request: bytes) -> bool:
    """One signed answer request on a keep-alive connection: True for a 200 with an NCCO."""
    reader, writer = stream
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(_header(head, b"content-length") or b"0")
    body = await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200") and body.startswith(b"[")


async def throughput(url: str, signer: Signer, seconds: float) -> int:
    """Answers completed in ``seconds`` with :data:`CONCURRENCY` keep-alive connections."""
    host = urlsplit(url).netloc
    # Signed ahead, so the client's signing does not pace the loop; each used once.
    requests = [_raw_request(host, signer) for _ in range(int(seconds * PRESIGNED_PER_S))]
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        stream = await _connect(url)
        i = offset
        try:
            while time.monotonic() < deadline and i < len(requests):
                ok = await _answer(stream, requests[i])
                done += ok  # not `done += await ...`: that reads done before awaiting
                i += CONCURRENCY
        finally:
            stream[1].close()

    await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    return done


def _raw_request(host: str, signer: Signer) -> bytes:
    body = compact_json(_params())
    return (
        f"POST /webhooks/answer HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {signer.authorization(body)}\r\nUser-Agent: bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


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
    host = urlsplit(url).netloc
    # Connections opened ahead, each used by one request at a time (no pipelining);
    # one more is opened, and its set-up timed, only if every one is busy.
    idle = [await _connect(url) for _ in range(PACED_CLIENTS)]
    busy: list[Stream] = []
    try:

        async def one(due: float) -> None:
            nonlocal failed
            request = _raw_request(host, signer)
            sent = time.perf_counter()
            lateness.append((sent - due) * 1000)
            stream = idle.pop() if idle else await _connect(url)
            busy.append(stream)
            try:
                ok = await _answer(stream, request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                ok = False
            busy.remove(stream)
            if ok:
                latencies.append((time.perf_counter() - sent) * 1000)
                idle.append(stream)
            else:
                stream[1].close()
                failed += 1

        start = time.perf_counter() + 0.1
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    finally:
        for _, writer in idle + busy:
            writer.close()
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
