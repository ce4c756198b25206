"""One exception tree for the audio service, and what each error maps to.

Every error knows how it is reported: a start-up problem is an exit status, a
refused upgrade is an HTTP status, a failed call is a WebSocket close code. The
server turns them into responses and close frames in one place.

    ConfigurationError            start-up: exit status 2, one line per problem;
                                  shared with the webhooks service (app_credentials)
    AudioSocketError
    ├── CannotListen              start-up: exit status 1, the address is taken
    ├── PromptError               a handler's play(): not 16-bit PCM, an unreadable WAV
    ├── HandshakeRejected         before the upgrade: an HTTP status, no socket
    │   ├── CredentialRejected      401: missing, malformed, forged, expired or used
    │   ├── StaleAttempt            409: the call has a live socket of this attempt or later
    │   ├── CallLimitReached        503: MAX_CALLS calls already live
    │   └── UnsupportedVersion      426: not WebSocket version 13
    └── CallError                 after the upgrade: a close code and reason
        ├── UnsupportedData         1003: binary first message, unknown audio format
        ├── InvalidPayload          1007: first message is not a JSON object
        ├── PolicyViolation         1008: not websocket:connected, no content-type
        │   └── CredentialMismatch  1008: call_uuid is not the credential's call
        ├── FirstMessageTooBig      1009: first message over 4 KiB
        ├── PeerNotReading          aborted: outbound buffer stayed full
        ├── Superseded              1000: a later attempt of the same call took over
        └── HandlerFailed           1011: the call handler raised
    CallControlError              a handler's hangup/transfer/say/send_dtmf failed
    └── CallControlUnavailable      no application credentials (VONAGE_APPLICATION_ID)

This module is pure (no websockets, no asyncio) so the protocol core can raise
these errors and stay importable without I/O.
"""

from __future__ import annotations

import enum
from http import HTTPStatus
from typing import ClassVar


class CloseCode(enum.IntEnum):
    """RFC 6455 close codes this service uses (docs/vonage-protocol.md §3: Vonage
    documents none, so the RFC's meanings apply). Values and names match
    ``websockets.frames.CloseCode``."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


class Outcome(enum.StrEnum):
    """How a call (or an attempt at one) ended: the ``outcome`` metric label."""

    COMPLETED = "completed"
    DRAINED = "drained"
    REJECTED_CREDENTIAL = "rejected_credential"
    REJECTED_LIMIT = "rejected_limit"
    REJECTED_PROTOCOL = "rejected_protocol"
    #: The socket was closed because a later attempt of its call connected.
    SUPERSEDED = "superseded"
    FAILED = "failed"


class AudioSocketError(Exception):
    """Base of every error the audio service raises on purpose."""


class CannotListen(AudioSocketError):
    """The configured host and port cannot be bound."""


class PromptError(AudioSocketError, ValueError):
    """A prompt given to ``play()`` cannot be played; the message says why.

    Raised to the handler, which may catch it; uncaught, it fails the call
    like any other handler error (1011).
    """


class HandshakeRejected(AudioSocketError):
    """The upgrade request is answered with an HTTP error; no socket opens."""

    status: ClassVar[HTTPStatus]
    outcome: ClassVar[Outcome]


class CredentialRejected(HandshakeRejected):
    """No valid per-call credential in ``Authorization`` (docs/contract.md)."""

    status = HTTPStatus.UNAUTHORIZED
    outcome = Outcome.REJECTED_CREDENTIAL


class StaleAttempt(HandshakeRejected):
    """The call already has a live socket of this connect attempt or a later one."""

    status = HTTPStatus.CONFLICT
    outcome = Outcome.REJECTED_CREDENTIAL


class UnsupportedVersion(HandshakeRejected):
    """Not WebSocket version 13: RFC 6455 §4.2.2 asks for 426 naming the version."""

    status = HTTPStatus.UPGRADE_REQUIRED
    outcome = Outcome.REJECTED_PROTOCOL


class CallLimitReached(HandshakeRejected):
    """This replica already carries MAX_CALLS calls; the proxy tries another."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    outcome = Outcome.REJECTED_LIMIT


class CallError(AudioSocketError):
    """The call is closed with ``close_code``; the message is the close reason.

    Reasons are short and fixed: a close frame carries at most 123 bytes, and
    they are logged, so they never quote what the peer sent.
    """

    close_code: ClassVar[CloseCode]
    outcome: ClassVar[Outcome] = Outcome.REJECTED_PROTOCOL
    #: Abort the TCP connection instead of a closing handshake (nothing the
    #: peer would read anyway).
    abort: ClassVar[bool] = False

    @property
    def reason(self) -> str:
        """The close reason sent to the peer."""
        return str(self)


class UnsupportedData(CallError):
    """Data this service cannot handle: binary first message, unknown audio format."""

    close_code = CloseCode.UNSUPPORTED_DATA


class InvalidPayload(CallError):
    """A message that is not what its type promises (text that is not JSON)."""

    close_code = CloseCode.INVALID_DATA


class PolicyViolation(CallError):
    """A well-formed message that breaks the protocol's rules."""

    close_code = CloseCode.POLICY_VIOLATION


class CredentialMismatch(PolicyViolation):
    """The first message names another call than the credential (docs/contract.md)."""

    outcome = Outcome.REJECTED_CREDENTIAL

    def __init__(self) -> None:
        super().__init__("credential does not match call")


class FirstMessageTooBig(CallError):
    """The first message exceeds the 4 KiB its NCCO headers can need."""

    close_code = CloseCode.MESSAGE_TOO_BIG


class PeerNotReading(CallError):
    """The peer left the outbound buffer full for SEND_TIMEOUT, or past its cap."""

    close_code = CloseCode.ABNORMAL_CLOSURE
    outcome = Outcome.REJECTED_LIMIT
    abort = True

    def __init__(self) -> None:
        super().__init__("peer not reading")


class Superseded(CallError):
    """A later attempt of the same call connected: this socket is closed normally."""

    close_code = CloseCode.NORMAL_CLOSURE
    outcome = Outcome.SUPERSEDED

    def __init__(self) -> None:
        super().__init__("superseded")


class HandlerFailed(CallError):
    """The call handler raised; the call cannot go on."""

    close_code = CloseCode.INTERNAL_ERROR
    outcome = Outcome.FAILED

    def __init__(self) -> None:
        super().__init__("internal error")


class CallControlError(AudioSocketError):
    """A Voice REST API request for the call failed (docs/vonage-protocol.md §8).

    What a handler catches around ``hangup()``, ``transfer()``, ``say()`` and
    ``send_dtmf()``: a refusal (401 wrong key or expired JWT, 403, 404 unknown
    call, 429, 5xx), a timeout, or a host that cannot be reached. The call's
    socket is left as it was; the message says what failed, never the JWT.
    """

    def __init__(self, message: str, *, status: int | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        #: The HTTP status Vonage answered with; None when there was no answer.
        self.status = status
        #: True when the request timed out.
        self.timeout = timeout

    @property
    def retryable(self) -> bool:
        """A timeout or a 5xx: the request may have failed on Vonage's side only."""
        return self.timeout or (self.status is not None and self.status >= 500)


class CallControlUnavailable(CallControlError):
    """The service has no application credentials, so no REST request can be made."""

    def __init__(self) -> None:
        super().__init__(
            "call control needs the Vonage application's credentials: set "
            "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (or VONAGE_PRIVATE_KEY_PATH)"
        )
