"""The echo, with some calls waiting on Vonage's Voice REST API meanwhile.

``AUDIO_HANDLER=bench.rest_handler:RestHandler`` with ``BENCH_REST_CALLS=M``: the
first M calls the replica takes each send DTMF through the REST API
(``send_dtmf``, docs/vonage-protocol.md §8) over and over for as long as they last,
one request at a time; every call, those M included, echoes its caller. The bench
runs it with the simulator's ``--api-delay 5``, so each request is answered after
5 s: the echo's round trip shows whether a slow Vonage reaches the audio loop.
Each REST caller logs, at its end, how many requests were answered and failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from audio_socket import Call, CallControlError, CallEnd
from audio_socket.handlers.echo import EchoHandler

#: The line each REST caller logs at its end; the bench counts the answers from it.
ANSWERED_LOG: Final = "bench REST caller: answered=%d failed=%d"
#: Seconds between one answer (or failure) and the next request.
PAUSE_S: Final = 0.5

log = logging.getLogger("audio_socket")
_taken = 0


class RestBenchSettings(BaseSettings):
    """``BENCH_REST_CALLS``: how many of the replica's first calls make REST requests."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    bench_rest_calls: int = Field(0, ge=0)


class RestHandler(EchoHandler):
    """Echo; the first ``BENCH_REST_CALLS`` calls also keep a REST request pending."""

    __slots__ = ("_answered", "_failed", "_rest")
    settings_class = RestBenchSettings

    def __init__(self, call: Call) -> None:
        global _taken  # noqa: PLW0603 (a count over the process's calls)
        super().__init__(call)
        self._answered = self._failed = 0
        self._rest = _taken < call.settings.bench_rest_calls
        if self._rest:
            _taken += 1
            call.spawn(self._requests(call), name="bench REST caller")

    async def _requests(self, call: Call) -> None:
        while True:
            try:
                await call.send_dtmf("1")
                self._answered += 1
            except CallControlError:
                self._failed += 1
            await asyncio.sleep(PAUSE_S)

    def on_end(self, end: CallEnd) -> None:
        """Say how the REST loop went (the call's end has cancelled it)."""
        if self._rest:
            log.info(ANSWERED_LOG, self._answered, self._failed)
