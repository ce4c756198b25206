"""The ``jti`` replay cache of signed webhooks (docs/security.md, "Signed webhooks").

A signed request is accepted while its ``iat`` is within ``SIGNATURE_MAX_AGE`` of
the clock, either way: one token can be presented for twice that window. Each
``jti`` seen is kept that long, so a token replayed at any point of its life is
refused. The cache is this process's own (several webhooks replicas each keep
theirs), and bounded: when it is full of live entries, a new request is refused
(503) rather than remembered nowhere.

It rests on one assumption about Vonage: a retried answer request carries a fresh
JWT. Were the same JWT re-sent, the retry would be refused with 401, which Vonage
does not retry, and the call would be lost.
"""

from __future__ import annotations

from collections import deque

from webhooks.errors import ReplayCacheFull, SignatureRejected

__all__ = ["ReplayCache"]


class ReplayCache:
    """The ``jti`` values seen in the last ``keep`` seconds, at most ``max_entries``.

    Entries expire in the order they were added (each is kept the same time), so
    two deques and a set give O(1) work per request. A key is the string's hash:
    about 120 bytes per entry (118 measured), ~120 MB for a million; a collision (odds ~1e-7 at
    a million entries) refuses one genuine request, never admits a replay.
    """

    __slots__ = ("_expiries", "_keep", "_keys", "_max_entries", "_seen")

    def __init__(self, keep: float, max_entries: int) -> None:
        self._keep = keep
        self._max_entries = max_entries
        self._seen: set[int] = set()
        self._keys: deque[int] = deque()
        self._expiries: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, jti: str, now: float) -> None:
        """Remember ``jti``; raise ``SignatureRejected`` if it was seen within ``keep``.

        Raises:
            SignatureRejected: The ``jti`` was already used: a replay.
            ReplayCacheFull: Every slot holds a live entry; nothing was remembered.
        """
        self._expire(now)
        key = hash(jti)
        if key in self._seen:
            raise SignatureRejected("signature already used (jti seen before)")
        if len(self._seen) >= self._max_entries:
            raise ReplayCacheFull("too many signed requests to remember; retry later")
        self._seen.add(key)
        self._keys.append(key)
        self._expiries.append(now + self._keep)

    def _expire(self, now: float) -> None:
        expiries, keys, seen = self._expiries, self._keys, self._seen
        while expiries and expiries[0] <= now:
            expiries.popleft()
            seen.discard(keys.popleft())
