"""Call records and reports made by hand, for the report tests and the load tests."""

from __future__ import annotations

from simulator.audio import build_signal
from simulator.reports.call_report import CallReport, build_report
from simulator.vonage.records import CallRecord, LegEnd, LegRecord
from simulator.vonage.stream import CallAudio

START = 100.0
FRAME = 0.02


def make_record(frames: int = 10) -> tuple[CallRecord, CallAudio]:
    """A record of a call of ``frames`` frames, nothing sent yet."""
    audio = CallAudio(build_signal(8000, frames * FRAME))
    audio.due0 = START
    audio.next = frames
    record = CallRecord(
        "u", "CON-u", frames * FRAME, audio=audio, started_at=START, ended_at=START + 1
    )
    return record, audio


def leg(
    number: int, first: int, end: int, how: LegEnd = LegEnd.HUNG_UP, opened: float | None = 0.0
) -> LegRecord:
    """A leg that carried frames [first, end)."""
    at = None if opened is None else START + first * FRAME + opened
    return LegRecord(
        number,
        "wss://h/s",
        number,
        opened_at=at,
        ended_at=START + end * FRAME,
        first_frame=first,
        end_frame=end,
        end=how,
        detail="socket closed by the server: 1001",
    )


def send(audio: CallAudio, frames: range, *, late: float = 0.0, back: float | None = 0.001) -> None:
    """Mark frames sent on schedule (+late) and echoed ``back`` seconds later (None: not echoed)."""
    for i in frames:
        audio.sent_at[i] = START + i * FRAME + late
        if back is not None:
            audio.recv_at[i] = audio.sent_at[i] + back


def passing_report(*, late: float = 0.0) -> CallReport:
    """A passed call whose frames left ``late`` seconds behind schedule."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10), late=late)
    return build_report(record)
