"""Which upgrades a replica admits: one socket per credential, one per call.

docs/security.md, "Socket credentials": a credential's ``jti`` opens at most one
socket on this replica, and is remembered until the credential's expiry plus the
leeway; a call has at most one live socket, and the connect ``attempt`` in the
credential decides between two: a higher one supersedes the live socket (a half-open
leg the server has not noticed yet must not turn a reconnect into an apology), an
equal or lower one is refused.

Pure bookkeeping, no I/O: the server asks :meth:`Admissions.check` before it admits
an upgrade and tells :meth:`Admissions.admit` once the upgrade is accepted.
"""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

from audio_socket.credentials import LEEWAY_SECONDS, Credential
from audio_socket.errors import CredentialRejected, StaleAttempt

__all__ = ["Admissions"]

#: A live socket: the server's connection object.
Socket = TypeVar("Socket")


class Admissions(Generic[Socket]):
    """Used ``jti``s and the live socket of each call, for one replica."""

    __slots__ = ("_expiries", "_live", "_used")

    def __init__(self) -> None:
        #: jti -> until when it stays used (the credential's exp + leeway).
        self._used: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []
        #: call uuid -> (attempt, socket) of its live socket.
        self._live: dict[str, tuple[int, Socket]] = {}

    def check(self, credential: Credential, now: float) -> Socket | None:
        """The live socket ``credential`` would supersede, if any.

        Raises:
            CredentialRejected: Its ``jti`` already opened a socket here (401).
            StaleAttempt: The call's live socket has an equal or higher attempt (409).
        """
        self._expire(now)
        if credential.jti in self._used:
            raise CredentialRejected("credential already used")
        live = self._live.get(credential.call_uuid)
        if live is None:
            return None
        attempt, socket = live
        if credential.attempt <= attempt:
            raise StaleAttempt(f"attempt {credential.attempt} is not after the live {attempt}")
        return socket

    def admit(self, credential: Credential, socket: Socket) -> None:
        """The upgrade was accepted: its ``jti`` is used, it is the call's live socket."""
        until = credential.expires_at + LEEWAY_SECONDS
        self._used[credential.jti] = until
        heapq.heappush(self._expiries, (until, credential.jti))
        self._live[credential.call_uuid] = (credential.attempt, socket)

    def release(self, call_uuid: str, socket: Socket) -> None:
        """``socket`` closed: it is no longer its call's live socket (if it still was)."""
        live = self._live.get(call_uuid)
        if live is not None and live[1] is socket:
            del self._live[call_uuid]

    @property
    def used(self) -> int:
        """``jti``s remembered now."""
        return len(self._used)

    def _expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, jti = heapq.heappop(expiries)
            self._used.pop(jti, None)
