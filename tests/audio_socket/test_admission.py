"""Tests for audio_socket.admission: one socket per credential, one per call."""

from __future__ import annotations

import pytest

from audio_socket.admission import Admissions
from audio_socket.credentials import LEEWAY_SECONDS, Credential
from audio_socket.errors import CredentialRejected, StaleAttempt


def credential(jti: str = "j1", attempt: int = 1, call: str = "call-1") -> Credential:
    """A verified credential expiring at t=100."""
    return Credential(call, 100, jti, attempt)


def test_a_jti_opens_one_socket_until_its_expiry() -> None:
    """Used once, a jti is refused until exp + leeway, then forgotten."""
    admissions: Admissions[str] = Admissions()
    admissions.check(credential(), now=0)
    admissions.admit(credential(), "socket-1")
    admissions.release("call-1", "socket-1")
    with pytest.raises(CredentialRejected, match="already used"):
        admissions.check(credential(), now=100 + LEEWAY_SECONDS - 1)
    assert admissions.check(credential(), now=100 + LEEWAY_SECONDS) is None
    assert admissions.used == 0


def test_a_checked_but_unadmitted_jti_is_not_used() -> None:
    """check() records nothing: a replica that refused the upgrade (503) keeps it usable."""
    admissions: Admissions[str] = Admissions()
    admissions.check(credential(), now=0)
    admissions.check(credential(), now=0)
    assert admissions.used == 0


def test_a_higher_attempt_supersedes_the_live_socket() -> None:
    """Attempt 2 names attempt 1's socket to close; 1 or 2 again are refused (409)."""
    admissions: Admissions[str] = Admissions()
    admissions.admit(credential("j1", 1), "socket-1")
    assert admissions.check(credential("j2", 2), now=0) == "socket-1"
    admissions.admit(credential("j2", 2), "socket-2")
    for attempt in (1, 2):
        with pytest.raises(StaleAttempt):
            admissions.check(credential(f"j-{attempt}-again", attempt), now=0)
    admissions.release("call-1", "socket-1")  # the superseded socket closing changes nothing
    with pytest.raises(StaleAttempt):
        admissions.check(credential("j3", 2), now=0)
    admissions.release("call-1", "socket-2")
    assert admissions.check(credential("j4", 1), now=0) is None  # no live socket: any attempt


def test_calls_are_apart() -> None:
    """Another call's live socket is no conflict."""
    admissions: Admissions[str] = Admissions()
    admissions.admit(credential("j1", 3, call="call-1"), "socket-1")
    assert admissions.check(credential("j2", 1, call="call-2"), now=0) is None
