"""How a call ended: close code, reason and metric outcome, from the close frames.

Whoever sent the first close frame decides (RFC 6455 §7.1.5): the server's
code says why it ended the call; the peer's says whether hanging up was normal.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from websockets.protocol import Protocol

from audio_socket.errors import CallError, CloseCode, Outcome, PeerNotReading

#: What it means when this server sent the first close frame. 1001 from a
#: handler is a completed call; from the drain, a drained one.
_OUTCOME_OF_SENT_CODE: Final[dict[int, Outcome]] = {
    CloseCode.NORMAL_CLOSURE: Outcome.COMPLETED,
    CloseCode.GOING_AWAY: Outcome.COMPLETED,
    CloseCode.PROTOCOL_ERROR: Outcome.REJECTED_PROTOCOL,
    CloseCode.UNSUPPORTED_DATA: Outcome.REJECTED_PROTOCOL,
    CloseCode.INVALID_DATA: Outcome.REJECTED_PROTOCOL,
    CloseCode.POLICY_VIOLATION: Outcome.REJECTED_PROTOCOL,
    CloseCode.MESSAGE_TOO_BIG: Outcome.REJECTED_LIMIT,
}
#: Close codes a peer ends a call with in the ordinary way (1005: no code).
_PEER_NORMAL_CODES: Final = frozenset({1000, 1001, 1005})


class Ending(NamedTuple):
    """How a connection ended: close code, reason, and the metric outcome."""

    code: int
    reason: str
    outcome: Outcome

    @classmethod
    def of_error(cls, error: CallError) -> Ending:
        """The ending an error imposes."""
        return cls(int(error.close_code), error.reason, error.outcome)


def ending_of(protocol: Protocol, *, stalled: bool, going_away: bool) -> Ending:
    """How the connection ``protocol`` carried ended.

    ``stalled``: it was aborted because the peer stopped reading.
    ``going_away``: the server was closing calls with 1001 to finish a drain.
    """
    if stalled:
        return Ending.of_error(PeerNotReading())
    sent, received = protocol.close_sent, protocol.close_rcvd
    if sent is not None and not protocol.close_rcvd_then_sent:
        if sent.code == CloseCode.GOING_AWAY and going_away:
            return Ending(sent.code, sent.reason, Outcome.DRAINED)
        return Ending(sent.code, sent.reason, _OUTCOME_OF_SENT_CODE.get(sent.code, Outcome.FAILED))
    if received is not None:
        normal = received.code in _PEER_NORMAL_CODES
        return Ending(
            received.code, received.reason, Outcome.COMPLETED if normal else Outcome.FAILED
        )
    return Ending(int(CloseCode.ABNORMAL_CLOSURE), "connection lost", Outcome.FAILED)
