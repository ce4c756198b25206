"""Vonage's HTTP side: the answer request and the event posts, signed.

docs/vonage-protocol.md §1: the answer URL is fetched with ``GET`` (query string) or
``POST`` (JSON body). Vonage's timeouts, set per application, default to 1 s to
connect, 5 s to read an answer and 10 s to read an event's response
(:class:`Timeouts`). A request that expects an NCCO back — the answer, and under
``eventType: synchronous`` the events about a socket leg that ended (§4) — is tried
twice, about a second apart, then the application's ``fallback_answer_url`` twice:
an answer that still fails ends the call; an event goes on with the call flow. A
certificate error, an invalid URL and (for the answer) any status but 429, 503 and
504 are not retried at the same URL. Any 2xx (200-205) is success. §5: every other
event is a notification: posted once, its failure reported, never ending the call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.errors import WebhookError
from simulator.net import describe_failure, root_cause
from simulator.vonage.ncco import Action, parse_ncco_json
from simulator.vonage.signing import Signer, compact_json, query_json

SUCCESS = range(200, 206)
RETRY_STATUSES = {429, 503, 504}
ATTEMPTS_PER_URL = 2
RETRY_BACKOFF = 1.0  # "retries after about a second" (docs/vonage-protocol.md §1)
# Webhook requests in flight per process. httpx's pool scans its queue for every
# request, so hundreds queued at a load run's start cost more than they send; a
# short queue also keeps call set-up from delaying the frames of calls already up.
MAX_IN_FLIGHT = 16
#: The range Vonage accepts for each timeout, seconds (docs/vonage-protocol.md §1).
VONAGE_TIMEOUT_RANGES = {"connect": (0.3, 1.0), "answer": (1.0, 5.0), "event": (1.0, 10.0)}


@dataclass(frozen=True)
class Timeouts:
    """Vonage's webhook timeouts in seconds, each settable per application (§1)."""

    connect: float = 1.0
    answer: float = 5.0
    event: float = 10.0

    def outside_vonage(self) -> list[str]:
        """The settings Vonage itself would not accept, in words."""
        return [
            f"{name} {getattr(self, name):g} s (Vonage: {low:g}-{high:g} s)"
            for name, (low, high) in VONAGE_TIMEOUT_RANGES.items()
            if not low <= getattr(self, name) <= high
        ]


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
    leg: int | None = None  # the socket leg an event is about; None: the caller's leg

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class WebhookClient:
    """Sends signed requests like Vonage; one per process, sockets pooled."""

    ssl_context: ssl.SSLContext
    signer: Signer | None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry_backoff: float = RETRY_BACKOFF
    client: httpx.AsyncClient = field(init=False)
    in_flight: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        limits = httpx.Limits(
            max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
        )
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.client = httpx.AsyncClient(verify=self.ssl_context, limits=limits, trust_env=False)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()

    async def answer(
        self,
        url: str,
        params: dict[str, Any],
        *,
        post: bool,
        fallback_url: str | None = None,
        log: list[Exchange],
    ) -> list[Action]:
        """The NCCO from the answer URL (or its fallback); WebhookError, NccoError."""
        method = "POST" if post else "GET"
        targets = [url] if fallback_url is None else [url, fallback_url]
        body, _ = await self._fetch(
            "answer", targets, method, params, read_timeout=self.timeouts.answer, log=log
        )
        return parse_ncco_json(body)

    async def expect_ncco(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        method: str = "POST",
        fallback_url: str | None = None,
        leg: int | None = None,
        kind: str | None = None,
        log: list[Exchange],
    ) -> list[Action] | None:
        """Post an event whose answer may be an NCCO: the NCCO, or None to go on.

        None when the answer was empty; WebhookError when every attempt failed (each is
        in ``log``): the caller goes on with the call flow; NccoError when the answer is
        not an NCCO. ``kind`` names it in the log (default: its ``status``).
        """
        targets = [url] if fallback_url is None else [url, fallback_url]
        kind = kind or str(payload.get("status"))
        body, exchange = await self._fetch(
            kind,
            targets,
            method,
            payload,
            read_timeout=self.timeouts.event,
            log=log,
            leg=leg,
            any_status=True,  # "tries twice" (§6): the answer URL's status rule is its own
        )
        if not body.strip():
            return None  # no NCCO: the call flow goes on
        exchange.ncco = True
        return parse_ncco_json(body)

    async def notify(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        method: str = "POST",
        kind: str | None = None,
        leg: int | None = None,
        log: list[Exchange],
    ) -> Exchange:
        """Post one notification, never raising; its exchange (``error`` set if it failed)."""
        exchange = Exchange(kind or str(payload.get("status")), method, url, leg=leg)
        log.append(exchange)
        try:
            response = await self._send(method, url, payload, exchange, self.timeouts.event)
        except WebhookError:
            return exchange
        if response.status_code not in SUCCESS:
            exchange.error = f"HTTP {response.status_code}"
        return exchange

    async def _fetch(
        self,
        kind: str,
        targets: Sequence[str],
        method: str,
        fields: dict[str, Any],
        *,
        read_timeout: float,
        log: list[Exchange],
        leg: int | None = None,
        any_status: bool = False,
    ) -> tuple[bytes, Exchange]:
        """The body of the first 2xx answer, trying each URL as Vonage does; else WebhookError."""
        failure: WebhookError | None = None
        attempts = 0
        for url in targets:
            for _ in range(ATTEMPTS_PER_URL):
                if attempts:
                    await asyncio.sleep(self.retry_backoff)
                attempts += 1
                exchange = Exchange(kind, method, url, leg=leg)
                log.append(exchange)
                try:
                    response = await self._send(method, url, fields, exchange, read_timeout)
                except WebhookError as exc:
                    failure = exc
                else:
                    if response.status_code in SUCCESS:
                        return response.content, exchange
                    status = response.status_code
                    exchange.error = f"HTTP {status}"
                    failure = WebhookError(
                        f"{kind} webhook {url} answered HTTP {status}",
                        retry=any_status or status in RETRY_STATUSES,
                    )
                if not failure.retry:
                    break  # on to the fallback URL, if there is one
        raise failure or WebhookError(f"no URL to send '{kind}' to")

    async def _send(
        self,
        method: str,
        url: str,
        fields: dict[str, Any],
        exchange: Exchange,
        read_timeout: float,
    ) -> httpx.Response:
        async with self.in_flight:
            started = time.perf_counter()
            try:
                return await self._request(method, url, fields, exchange, read_timeout)
            finally:
                exchange.ms = round((time.perf_counter() - started) * 1000, 2)

    async def _request(
        self,
        method: str,
        url: str,
        fields: dict[str, Any],
        exchange: Exchange,
        read_timeout: float,
    ) -> httpx.Response:
        # payload_hash covers what is sent, as Vonage computes it (docs/vonage-protocol.md §6).
        query = {}
        if method == "GET":
            query = {k: _query_value(v) for k, v in fields.items() if v is not None}
        body = query_json(query) if method == "GET" else compact_json(fields)
        headers = {"User-Agent": "Vonage-Simulator"}
        if self.signer is not None:
            headers["Authorization"] = self.signer.authorization(body)
        timeout = httpx.Timeout(read_timeout, connect=self.timeouts.connect)
        try:
            if method == "GET":
                response = await self.client.get(
                    url, params=query, headers=headers, timeout=timeout
                )
            else:
                headers["Content-Type"] = "application/json"
                response = await self.client.post(
                    url, content=body, headers=headers, timeout=timeout
                )
        except httpx.ConnectTimeout as exc:
            exchange.error = "connect timeout"
            raise WebhookError(
                f"webhook did not connect within {self.timeouts.connect:g} s: {method} {url}"
            ) from exc
        except httpx.TimeoutException as exc:
            exchange.error = "timeout"
            raise WebhookError(
                f"webhook timed out after {read_timeout:g} s: {method} {url}"
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            exchange.error = "InvalidURL"
            raise WebhookError(f"invalid webhook URL {url}: {exc}", retry=False) from exc
        except httpx.HTTPError as exc:
            exchange.error = type(exc).__name__
            certificate = isinstance(root_cause(exc), ssl.SSLCertVerificationError)
            raise WebhookError(describe_failure(exc, url), retry=not certificate) from exc
        except httpx.InvalidURL as exc:
            exchange.error = "InvalidURL"
            raise WebhookError(f"invalid webhook URL {url}: {exc}", retry=False) from exc
        exchange.status = response.status_code
        return response


def _query_value(value: object) -> str:
    """A field as Vonage puts it in a query string: objects as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
