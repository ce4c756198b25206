"""Tests for webhooks.replay: the bounded jti cache (docs/security.md)."""

from __future__ import annotations

import pytest

from webhooks.errors import ReplayCacheFull, SignatureRejected
from webhooks.replay import ReplayCache


def test_a_jti_is_refused_until_it_expires() -> None:
    """Seen at t=0 and kept 600 s: refused at 599 s, accepted again at 600 s."""
    cache = ReplayCache(keep=600, max_entries=10)
    cache.check_and_add("a", now=0.0)
    with pytest.raises(SignatureRejected, match="already used"):
        cache.check_and_add("a", now=599.0)
    cache.check_and_add("a", now=600.0)


def test_the_size_is_bounded_and_fails_closed() -> None:
    """Full of live entries, a new jti is refused (503) and not remembered."""
    cache = ReplayCache(keep=600, max_entries=3)
    for i in range(3):
        cache.check_and_add(f"j{i}", now=float(i))
    with pytest.raises(ReplayCacheFull):
        cache.check_and_add("new", now=10.0)
    assert len(cache) == 3
    cache.check_and_add("new", now=600.5)  # j0 expired: room again
    assert len(cache) == 3


def test_expired_entries_are_dropped() -> None:
    """Entries leave as they expire: memory follows the last window's traffic only."""
    cache = ReplayCache(keep=10, max_entries=1000)
    for i in range(500):
        cache.check_and_add(str(i), now=i / 100)
    cache.check_and_add("late", now=100.0)
    assert len(cache) == 1
