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
import contextlib
import logging
import os
from typing import Final

from audio_socket.errors import CallControlError
from audio_socket.handlers.base import CallControl, CallEnd
from audio_socket.handlers.echo import EchoHandler
from audio_socket.protocol import CallStart

#: The line each REST caller logs at its end; the bench counts the answers from it.
ANSWERED_LOG: Final = "bench REST caller: answered=%d failed=%d"
#: Seconds between one answer (or failure) and the next request.
PAUSE_S: Final = 0.5

log = logging.getLogger("audio_socket")
_taken = 0


class RestHandler(EchoHandler):
    """Echo; the first ``BENCH_REST_CALLS`` calls also keep a REST request pending."""

    __slots__ = ("_answered", "_failed", "_task")

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None
        self._answered = self._failed = 0

    def on_start(self, call: CallControl, start: CallStart) -> None:
        """Bind the echo; start the REST loop when this call is one of the first M."""
        global _taken  # noqa: PLW0603 (a count over the process's calls)
        super().on_start(call, start)
        if _taken < int(os.environ.get("BENCH_REST_CALLS", "0")):
            _taken += 1
            self._task = asyncio.get_running_loop().create_task(self._requests(call))

    async def _requests(self, call: CallControl) -> None:
        while True:
            try:
                await call.send_dtmf("1")
                self._answered += 1
            except CallControlError:
                self._failed += 1
            await asyncio.sleep(PAUSE_S)

    async def on_end(self, end: CallEnd) -> None:
        """Stop the REST loop and say how it went."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        log.info(ANSWERED_LOG, self._answered, self._failed)
