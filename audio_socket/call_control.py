"""A handler's call control: hang up, transfer, speak and send DTMF, through REST.

A socket this service closes under a live call is an accident to Vonage: it posts
``disconnected`` and the webhooks reconnect the call (docs/vonage-protocol.md §4).
An end the handler means is a Voice REST API request instead (§8), after which
Vonage sends no ``disconnected``. So a deliberate end keeps this order:

1. the call is marked as ending, so a drain does not close it with 1001 meanwhile;
2. the REST request is sent (a hang-up is retried once after a timeout or a 5xx);
3. the socket is never closed before the REST answer;
4. on success Vonage closes the socket; if it has not within
   :data:`VONAGE_CLOSE_WAIT` seconds, this service closes it, logging a warning.

On failure the call is no longer ending, its socket stays open, and the handler
gets :class:`~audio_socket.errors.CallControlError`: it decides what next (closing
the socket then means a reconnect).

What Vonage does with the socket leg after a transfer is not documented
(docs/vonage-protocol.md §8); it is inferred that it ends the leg as for a hang-up,
and the simulator models it so.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from websockets.protocol import OPEN

from audio_socket.connection import CallConnection
from audio_socket.errors import CallControlError, CallControlUnavailable, CloseCode
from audio_socket.voice_api import VoiceApi

__all__ = ["MAX_TALK_CHARS", "VONAGE_CLOSE_WAIT", "CallRest"]

#: Seconds Vonage gets to close the socket after an accepted hang-up or transfer.
VONAGE_CLOSE_WAIT: Final = 5.0
#: vonage-voice's ``Talk.text`` limit.
MAX_TALK_CHARS: Final = 1500
#: Digits the REST API plays: 0-9, *, #, and p (a pause of 500 ms).
_DIGITS: Final = re.compile(r"[0-9*#p]{1,256}")

log = logging.getLogger("audio_socket")


@dataclass(slots=True)
class CallRest:
    """What the REST requests of one call need, and its ``ending`` mark."""

    api: VoiceApi | None
    call_uuid: str
    #: The Vonage API host from the credential's ``region`` claim, if any.
    region: str | None
    #: Called when a failed hang-up or transfer un-marks the call (a drain may be due).
    released: Callable[[], None]
    #: True from a hang-up or transfer until it failed or the socket closed.
    ending: bool = False

    def _api(self, what: str) -> VoiceApi:
        if self.api is None:
            raise CallControlUnavailable
        if self.ending:
            raise CallControlError(f"{what}: the call is already ending")
        return self.api

    async def hangup(self, conn: CallConnection) -> None:
        """End the call through REST; the socket closes from Vonage's side."""
        api = self._api("hangup")
        self.ending = True
        try:
            try:
                await api.hangup(self.call_uuid, self.region)
            except CallControlError as exc:
                if not exc.retryable:
                    raise
                log.warning(
                    "hangup failed, retrying once",
                    extra={"call_uuid": self.call_uuid, "error": str(exc)},
                )
                await self._hangup_again(api)
        except BaseException:
            self._release()
            raise
        self._expect_close(conn, "hangup")

    async def _hangup_again(self, api: VoiceApi) -> None:
        try:
            await api.hangup(self.call_uuid, self.region)
        except CallControlError as exc:
            # The first request may have ended the call after all, late.
            if exc.status != 404:
                raise

    async def transfer(self, conn: CallConnection, ncco: Sequence[Any]) -> None:
        """Replace the call's NCCO; the socket leg is Vonage's to end (inferred, §8)."""
        api = self._api("transfer")
        self.ending = True
        try:
            await api.transfer(self.call_uuid, self.region, ncco)
        except BaseException:
            self._release()
            raise
        self._expect_close(conn, "transfer")

    async def say(self, text: str, language: str | None) -> None:
        """Text-to-speech into the call; returns once Vonage has queued it."""
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TALK_CHARS:
            raise CallControlError(f"say: text must be 1 to {MAX_TALK_CHARS} characters")
        await self._api("say").talk(self.call_uuid, self.region, text, language)

    async def send_dtmf(self, digits: str) -> None:
        """Play DTMF tones into the call."""
        if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
            raise CallControlError("send_dtmf: digits must be 0-9, *, # or p (pause), 1 to 256")
        await self._api("send_dtmf").dtmf(self.call_uuid, self.region, digits)

    def _release(self) -> None:
        self.ending = False
        self.released()

    def _expect_close(self, conn: CallConnection, what: str) -> None:
        # A timer, not a wait: a handler awaiting this from on_audio holds up reading,
        # and Vonage's close frame could not be read until it returns.
        loop = asyncio.get_running_loop()
        loop.call_later(VONAGE_CLOSE_WAIT, self._close_if_open, conn, what)

    def _close_if_open(self, conn: CallConnection, what: str) -> None:
        if conn.protocol.state is OPEN:
            log.warning(
                "Vonage did not close the socket after the request; closing it",
                extra={"call_uuid": self.call_uuid, "request": what, "wait_s": VONAGE_CLOSE_WAIT},
            )
            conn.close(CloseCode.NORMAL_CLOSURE, f"call ended by {what}")
