"""What one simulated call is asked to do, and what it did: options and raw records.

``call.py`` fills these in as it runs; ``reports/call_report.py`` turns a
:class:`CallRecord` into figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.vonage.call_api import CallApi
from simulator.vonage.stream import CallAudio
from simulator.vonage.webhook import Exchange

CALLED_NUMBER = "447700900000"
CALLER_NUMBER = "447700900123"
DTMF_DIGITS = set("0123456789*#")
# The answer request's region_url: "the regional API endpoint to control the call"
# (docs/vonage-protocol.md §8). Which region a call lands in is Vonage's choice.
DEFAULT_REGION_URL = "https://api-eu-1.vonage.com"


@dataclass(frozen=True)
class CallOptions:
    """What one call does."""

    base_url: str
    seconds: float = 10.0
    # POST, as the README sets the application up; GET only where a test asks for it.
    post: bool = True
    to: str = CALLED_NUMBER
    caller: str = CALLER_NUMBER
    dtmf: str = ""
    keep_audio: bool = False
    variant: int = 0  # which of the SignalCache's signals this call sends
    #: ``talk`` takes no time (fast tests); by default it speaks at ``speech.py``'s rate.
    instant_talk: bool = False
    #: The application's ``fallback_answer_url`` (docs/vonage-protocol.md §1, §6).
    fallback_url: str | None = None
    region_url: str = DEFAULT_REGION_URL
    #: A Client SDK user placing the call from an app, instead of a phone (§1).
    from_user: str | None = None
    custom_data: dict[str, Any] | None = None
    #: An outbound call placed through the REST API (dialer.py): its answer_url and
    #: event_url as the application gave them; ``to`` is the callee, ``caller`` ours.
    answer_url: str | None = None
    event_url: str | None = None
    outbound: bool = False
    #: Count binary messages that are not one 20 ms frame instead of closing the socket
    #: with 1007 as Vonage does (docs/vonage-protocol.md §3).
    lenient_frames: bool = False
    #: Never answer the application's ``notify`` control messages (§9: one report of
    #: a live call where Vonage answered ``clear`` and never ``notify``).
    drop_notify: bool = False


class LegEnd(StrEnum):
    """How a WebSocket leg ended."""

    FAILED = "failed"  # it never opened
    CLOSED = "closed"  # the server closed it under the live call
    HUNG_UP = "hung up"  # the caller hung up: the call is over
    ENDED_BY_API = "ended by the application"  # a REST hangup or transfer (§8)


@dataclass
class LegRecord:
    """One WebSocket leg: how it opened and how it ended."""

    number: int
    uri: str
    attempt: object
    opened_at: float | None = None
    ended_at: float | None = None
    first_frame: int = 0
    end_frame: int = 0
    end: LegEnd = LegEnd.FAILED
    detail: str = ""
    close_code: int | None = None
    #: The one size a binary message back may have, and how many had another.
    frame_size: int = 0
    wrong_size: int = 0
    first_wrong_size: int | None = None


@dataclass
class CallRecord:
    """Everything one call did, raw: ``reports/call_report.py`` turns it into figures."""

    uuid: str
    conversation_uuid: str
    seconds: float
    audio: CallAudio | None = None
    legs: list[LegRecord] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    talks: list[str] = field(default_factory=list)
    talk_seconds: float = 0.0  # how long the call flow waited on talk
    #: (start, end, text) of each talk as the caller heard it (monotonic times).
    talk_spans: list[tuple[float, float, str]] = field(default_factory=list)
    text_messages: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None
    #: Events whose delivery failed; the call went on without them, as on Vonage.
    events_failed: list[str] = field(default_factory=list)
    #: The REST requests about this call and what they did (call_api.py).
    api: CallApi | None = None
    #: Who ended the call: "caller", "application: hangup", "application: transfer".
    ended_by: str = "caller"
    #: The frames at which a REST hangup or transfer ended a socket leg.
    api_end_frames: list[int] = field(default_factory=list)
    #: The NCCO actions run, in order, with what each did ("wait 0.5 s", "input 1").
    actions: list[str] = field(default_factory=list)
