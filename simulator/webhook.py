"""Vonage's HTTP side: the answer request and the event posts, signed.

docs/vonage-protocol.md §1: the answer URL is fetched with ``GET`` (query string) or
``POST`` (JSON body), must connect within ~3 s and answer within ~5 s, and is
retried on a timeout, a reset, 429, 503 and 504 — not on other statuses, nor on
an NCCO that cannot be parsed. Any 2xx (200-205) is success. §5: events are
``POST`` JSON (or ``GET`` with the fields in the query string).
§4: a synchronous event's response may carry an NCCO that replaces the call flow.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.errors import WebhookError
from simulator.ncco import Action, parse_ncco_json
from simulator.net import describe_failure
from simulator.signing import Signer

SUCCESS = range(200, 206)
RETRY_STATUSES = {429, 503, 504}
ANSWER_ATTEMPTS = 2  # Vonage retries; how often is not documented: once is enough to show it.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
# Webhook requests in flight per process. httpx's pool scans its queue for every
# request, so hundreds queued at a load run's start cost more than they send; a
# short queue also keeps call set-up from delaying the frames of calls already up.
MAX_IN_FLIGHT = 16

# httpcore tries `import sniffio` for every lock it creates; when sniffio is not
# installed each failed import searches sys.path again (~0.1 ms, several times per
# request). A None entry makes the miss immediate.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


@dataclass
class Exchange:
    """One webhook request and what came of it: for the report."""

    kind: str  # "answer" or the event status
    method: str
    url: str
    status: int | None = None
    ms: float = 0.0
    ncco: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class WebhookClient:
    """Sends signed requests like Vonage; one per process, sockets pooled."""

    ssl_context: ssl.SSLContext
    signer: Signer | None
    read_timeout: float = READ_TIMEOUT
    client: httpx.AsyncClient = field(init=False)
    in_flight: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        timeout = httpx.Timeout(self.read_timeout, connect=min(CONNECT_TIMEOUT, self.read_timeout))
        limits = httpx.Limits(
            max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
        )
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.client = httpx.AsyncClient(
            verify=self.ssl_context, timeout=timeout, limits=limits, trust_env=False
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()

    async def answer(
        self, url: str, params: dict[str, str], *, post: bool, log: list[Exchange]
    ) -> list[Action]:
        """Fetch the NCCO from the answer URL, retrying as Vonage does."""
        method = "POST" if post else "GET"
        for attempt in range(ANSWER_ATTEMPTS):
            exchange = Exchange("answer", method, url)
            log.append(exchange)
            try:
                response = await self._send(method, url, params, exchange)
            except WebhookError:
                if attempt + 1 == ANSWER_ATTEMPTS:
                    raise
                continue
            if response.status_code in RETRY_STATUSES and attempt + 1 < ANSWER_ATTEMPTS:
                continue
            if response.status_code not in SUCCESS:
                raise WebhookError(f"answer webhook {url} answered HTTP {response.status_code}")
            exchange.ncco = True
            return parse_ncco_json(response.content)
        raise AssertionError("unreachable")  # pragma: no cover

    async def event(
        self, url: str, payload: dict[str, Any], *, method: str = "POST", log: list[Exchange]
    ) -> list[Action] | None:
        """Post one event; the NCCO in its response, if any (used when synchronous)."""
        exchange = Exchange(str(payload.get("status")), method, url)
        log.append(exchange)
        response = await self._send(method, url, payload, exchange)
        if response.status_code not in SUCCESS:
            exchange.error = f"HTTP {response.status_code}"
            raise WebhookError(
                f"event webhook {url} answered HTTP {response.status_code}"
                f" to '{payload.get('status')}'"
            )
        body = response.content.strip()
        if not body.startswith(b"["):
            return None  # no NCCO: the call flow goes on
        exchange.ncco = True
        return parse_ncco_json(body)

    async def _send(
        self, method: str, url: str, fields: dict[str, Any], exchange: Exchange
    ) -> httpx.Response:
        async with self.in_flight:
            started = time.perf_counter()
            try:
                return await self._request(method, url, fields, exchange)
            finally:
                exchange.ms = round((time.perf_counter() - started) * 1000, 2)

    async def _request(
        self, method: str, url: str, fields: dict[str, Any], exchange: Exchange
    ) -> httpx.Response:
        body = b"" if method == "GET" else json.dumps(fields).encode()
        headers = {"User-Agent": "Vonage-Simulator"}
        if self.signer is not None:
            headers["Authorization"] = self.signer.authorization(body)
        try:
            if method == "GET":
                query = {k: _query_value(v) for k, v in fields.items()}
                response = await self.client.get(url, params=query, headers=headers)
            else:
                headers["Content-Type"] = "application/json"
                response = await self.client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            exchange.error = "timeout"
            raise WebhookError(
                f"webhook timed out after {self.read_timeout:g} s: {method} {url}"
            ) from exc
        except httpx.HTTPError as exc:
            exchange.error = type(exc).__name__
            raise WebhookError(describe_failure(exc, url)) from exc
        except httpx.InvalidURL as exc:
            exchange.error = "InvalidURL"
            raise WebhookError(f"invalid webhook URL {url}: {exc}") from exc
        exchange.status = response.status_code
        return response


def _query_value(value: object) -> str:
    """A field as Vonage puts it in a query string: objects as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
