"""The application's side of the Voice REST API: the official SDK, off the event loop.

vonage-voice and vonage-http-client are synchronous (requests). Each request runs
in a small, bounded thread pool with a timeout, so a slow or hanging Vonage never
holds up the event loop, and so the 50-frames-a-second path of every other call
goes on (docs/vonage-protocol.md §8). Each worker thread keeps its own SDK client
per host: the SDK's client mutates its headers on every request and is not meant
to be shared between threads.

Failures become one exception type, :class:`~audio_socket.errors.CallControlError`.
The SDK logs request headers (the JWT) at DEBUG, so its logger never goes below INFO.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import requests
import urllib3
from vonage_http_client import HttpClient, HttpClientOptions  # type: ignore[import-untyped]
from vonage_http_client.errors import HttpRequestError  # type: ignore[import-untyped]
from vonage_voice import Voice  # type: ignore[import-untyped]
from vonage_voice.models import TtsStreamOptions  # type: ignore[import-untyped]
from vonage_voice.models.ncco import NccoAction  # type: ignore[import-untyped]

from app_credentials import Application, sdk_auth
from audio_socket.errors import CallControlError

__all__ = ["MAX_PENDING", "WORKERS", "VoiceApi"]

#: Threads making REST requests; a request is short, so a few serve hundreds of calls.
WORKERS: Final = 4
#: Requests queued or running at once; one more fails at once instead of queueing.
MAX_PENDING: Final = 64
#: Seconds on top of the SDK's own timeout before the wait for a worker is given up.
_MARGIN: Final = 1.0

log = logging.getLogger("audio_socket")
T = TypeVar("T")


class VoiceApi:
    """The application's REST client: one pool of worker threads for the process."""

    def __init__(
        self,
        application: Application,
        timeout: float,
        workers: int = WORKERS,
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        self.application = application
        self.timeout = timeout
        #: Called on the event loop with (request, outcome) once each request is done.
        self._observe = observe
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="voice-api"
        )
        self._local = threading.local()
        #: Every SDK client made, in any worker: closed with the pool.
        self._clients: list[Voice] = []
        self._clients_lock = threading.Lock()
        self._pending = 0
        # The SDK logs each request's headers, the JWT included, at DEBUG.
        sdk_log = logging.getLogger("vonage")
        sdk_log.setLevel(max(sdk_log.getEffectiveLevel(), logging.INFO))

    def close(self) -> None:
        """Stop the workers; requests still queued are dropped; connections closed."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for voice in clients:
            voice.http_client._session.close()  # the SDK has no close of its own

    # The requests a call makes

    async def hangup(self, call_uuid: str, region: str | None) -> None:
        """``PUT /v1/calls/{uuid}`` ``{"action":"hangup"}`` (204)."""
        await self._run(region, "hangup", lambda voice: voice.hangup(call_uuid))

    async def transfer(self, call_uuid: str, region: str | None, ncco: Sequence[Any]) -> None:
        """``PUT /v1/calls/{uuid}`` ``transfer`` to an NCCO of vonage-voice models (204)."""
        actions = check_ncco(ncco)
        await self._run(
            region, "transfer", lambda voice: voice.transfer_call_ncco(call_uuid, actions)
        )

    async def talk(
        self, call_uuid: str, region: str | None, text: str, language: str | None
    ) -> None:
        """``PUT /v1/calls/{uuid}/talk``: text-to-speech into the call (200)."""
        try:
            options = TtsStreamOptions(text=text, language=language)
        except ValueError as exc:  # pydantic's ValidationError, e.g. an unknown language
            raise CallControlError(f"say: {_first_line(exc)}") from None
        await self._run(region, "say", lambda voice: voice.play_tts_into_call(call_uuid, options))

    async def dtmf(self, call_uuid: str, region: str | None, digits: str) -> None:
        """``PUT /v1/calls/{uuid}/dtmf`` (200)."""
        await self._run(
            region, "send_dtmf", lambda voice: voice.play_dtmf_into_call(call_uuid, digits)
        )

    # The pool

    async def _run(self, region: str | None, what: str, request: Callable[[Voice], T]) -> T:
        try:
            result = await self._request(region, what, request)
        except CallControlError as exc:
            if self._observe is not None:
                self._observe(what, _outcome(exc))
            raise
        if self._observe is not None:
            self._observe(what, "ok")
        return result

    async def _request(self, region: str | None, what: str, request: Callable[[Voice], T]) -> T:
        if self._pending >= MAX_PENDING:
            raise CallControlError(f"{what}: {MAX_PENDING} Voice API requests already pending")
        host = self.application.host_for(region)
        loop = asyncio.get_running_loop()
        # Counted until the worker is done with it, not until the caller stops waiting:
        # a request that outlived its wait still holds a worker.
        self._pending += 1
        job = self._executor.submit(self._send, host, what, request)
        job.add_done_callback(lambda _job: _call_soon(loop, self._finished))
        try:
            async with asyncio.timeout(self.timeout + _MARGIN):
                return await asyncio.wrap_future(job, loop=loop)
        except TimeoutError:
            raise CallControlError(
                f"{what}: no answer from {host} within {self.timeout:g} s", timeout=True
            ) from None

    def _finished(self) -> None:
        self._pending -= 1

    def _send(self, host: str, what: str, request: Callable[[Voice], T]) -> T:
        """In a worker thread: one request through the SDK, its failure as one type."""
        try:
            return request(self._voice(host))
        except HttpRequestError as exc:
            status = int(exc.response.status_code)
            exc.response.close()  # the SDK's error keeps it, and with it the connection
            error = CallControlError(
                f"{what}: {host} answered HTTP {status}{_explain(status)}", status=status
            )
        except requests.RequestException as exc:
            if _timed_out(exc):
                error = CallControlError(
                    f"{what}: no answer from {host} within {self.timeout:g} s", timeout=True
                )
            else:
                error = CallControlError(f"{what}: cannot reach {host}: {type(exc).__name__}")
        # Raised outside the except clause: the SDK's exception (its response, its
        # connection) is not kept alive as this one's context.
        raise error

    def _voice(self, host: str) -> Voice:
        clients: dict[str, Voice] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        voice = clients.get(host)
        if voice is None:
            app = self.application
            options = HttpClientOptions(
                api_host=host,
                timeout=max(1, math.ceil(self.timeout)),
                # Retrying is the caller's decision (hangup retries once), not urllib3's.
                max_retries=0,
                pool_connections=1,
                pool_maxsize=1,
            )
            voice = clients[host] = Voice(HttpClient(sdk_auth(app), options))
            with self._clients_lock:
                self._clients.append(voice)
        return voice


def _outcome(exc: CallControlError) -> str:
    """The metric's outcome label: a handful of values, never the status itself."""
    if exc.timeout:
        return "timeout"
    if exc.status is not None:
        return "http_5xx" if exc.status >= 500 else "http_4xx"
    return "busy" if "already pending" in str(exc) else "unreachable"


def _timed_out(exc: requests.RequestException) -> bool:
    """requests reports a read timeout without retries as a ConnectionError around it."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, urllib3.exceptions.TimeoutError)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is counting any more
        loop.call_soon_threadsafe(callback)


def check_ncco(ncco: Sequence[Any]) -> list[Any]:
    """The NCCO as a list of vonage-voice models; a plain dict would be sent as ``{}``."""
    if isinstance(ncco, str | bytes) or not isinstance(ncco, Sequence) or not ncco:
        raise CallControlError("transfer: the NCCO must be a non-empty list of actions")
    for action in ncco:
        if not isinstance(action, NccoAction):
            raise CallControlError(
                "transfer: each NCCO action must be a vonage_voice.models.ncco model "
                f"(Talk, Connect, ...), not {type(action).__name__}"
            )
    return list(ncco)


_EXPLANATIONS: Final = {
    401: " (the application id or private key is wrong, or the JWT expired)",
    403: " (the application may not control this call)",
    404: " (no such call: it has ended, or belongs to another application or region)",
    429: " (rate limited)",
}


def _explain(status: int) -> str:
    if status >= 500:
        return " (Vonage failed; it may succeed again)"
    return _EXPLANATIONS.get(status, "")


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()
    return text[0][:200] if text else type(exc).__name__
