"""The exception tree: every error knows its HTTP status or close code."""

from __future__ import annotations

import pytest
from websockets.frames import CloseCode as WebsocketsCloseCode

from audio_socket import errors
from audio_socket.errors import (
    CallError,
    CloseCode,
    CredentialMismatch,
    HandlerFailed,
    HandshakeRejected,
    Outcome,
    PeerNotReading,
)


def test_close_codes_match_websockets() -> None:
    """Our pure CloseCode mirrors websockets' names and values."""
    for code in CloseCode:
        assert WebsocketsCloseCode[code.name] == code.value


def leaf_errors(base: type[errors.AudioSocketError]) -> list[type[errors.AudioSocketError]]:
    """Every concrete subclass of ``base`` defined in the errors module."""
    found = []
    for cls in base.__subclasses__():
        found.append(cls)
        found.extend(leaf_errors(cls))
    return found


@pytest.mark.parametrize("error", leaf_errors(CallError), ids=lambda c: c.__name__)
def test_every_call_error_has_a_close_code_and_outcome(error: type[CallError]) -> None:
    """After the upgrade, each error maps to a close code and a metric outcome."""
    assert isinstance(error.close_code, CloseCode)
    assert isinstance(error.outcome, Outcome)


@pytest.mark.parametrize("error", leaf_errors(HandshakeRejected), ids=lambda c: c.__name__)
def test_every_handshake_rejection_has_a_status(error: type[HandshakeRejected]) -> None:
    """Before the upgrade, each error maps to an HTTP error status."""
    assert error.status >= 400
    assert isinstance(error.outcome, Outcome)


def test_fixed_reasons_fit_a_close_frame() -> None:
    """Reasons are short fixed strings (a close frame holds 123 bytes)."""
    for error in (CredentialMismatch(), PeerNotReading(), HandlerFailed()):
        assert 0 < len(error.reason.encode()) <= 123


def test_only_a_stalled_peer_is_aborted() -> None:
    """A peer that does not read gets no closing handshake; everyone else does."""
    aborted = [e.__name__ for e in leaf_errors(CallError) if issubclass(e, CallError) and e.abort]
    assert aborted == ["PeerNotReading"]
