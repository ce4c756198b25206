"""Report math: echo matching, lag by alignment, percentiles, reconnect gaps, losses."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.audio import build_signal
from simulator.reports.call_report import build_report, percentiles, render
from simulator.vonage.records import CallRecord, LegEnd
from tests.simulator.reports.records import FRAME, leg, make_record, send


def test_percentiles() -> None:
    """p50/p90/p99/max, rounded; nothing for no sample."""
    values = np.arange(1, 101, dtype=np.float64)
    assert percentiles(values) == {"p50": 50.5, "p90": 90.1, "p99": 99.01, "max": 100.0}
    assert percentiles(np.zeros(0)) == {}


def test_echo_passes() -> None:
    """Every frame echoed in order: byte-exact echo, lag ~ the round trip, nothing lost."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10), late=0.0005)
    report = build_report(record)
    assert report.passed
    assert report.error is None
    assert report.frames.echoed == 10
    assert report.echo.byte_exact
    assert report.echo.mode == "echo"
    assert report.echo.lag_ms == pytest.approx(1.0, abs=0.01)
    assert report.round_trip_ms["max"] == pytest.approx(1.0, abs=0.01)
    assert report.send_lateness_ms["p99"] == pytest.approx(0.5, abs=0.01)
    assert "PASSED" in render(report)


def test_delayed_echo_lag() -> None:
    """Echoes 100 ms late: a delayed echo, lag 5 frames."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10), back=0.1)
    report = build_report(record)
    assert report.passed
    assert (report.echo.mode, report.echo.lag_frames) == ("delayed echo", 5)
    assert report.echo.lag_ms == pytest.approx(100.0, abs=0.01)


def test_reconnect_gap_excuses_its_losses() -> None:
    """Frames lost between the last echo before a reconnect and the first after are excused."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 5, LegEnd.CLOSED), leg(2, 6, 10, opened=0.003)]
    send(audio, range(4))
    send(audio, range(4, 5), back=None)  # sent, cut off with the socket
    send(audio, range(6, 10))  # frame 5 fell due with no socket
    report = build_report(record)
    assert report.passed, report.error
    assert (report.frames.lost, report.frames.lost_in_gaps, report.frames.lost_outside_gaps) == (
        2,
        2,
        0,
    )
    [reconnect] = report.reconnects
    assert reconnect.frames_lost == 2
    assert reconnect.audio_resumed
    assert reconnect.gap_ms == pytest.approx((6 - 3 - 1) * 20, abs=0.01)
    assert reconnect.failed_attempts == 0
    assert "1001" in reconnect.cause


def test_failed_attempts_counted_between_legs() -> None:
    """Legs that failed to open between two open ones count as failed attempts."""
    record, audio = make_record()
    record.legs = [
        leg(1, 0, 5, LegEnd.CLOSED),
        leg(2, 5, 5, LegEnd.FAILED, opened=None),
        leg(3, 7, 10),
    ]
    send(audio, range(5))
    send(audio, range(7, 10))
    [reconnect] = build_report(record).reconnects
    assert reconnect.failed_attempts == 1


def test_loss_outside_a_gap_fails() -> None:
    """A frame missing mid-leg is lost outside a gap: the call fails, saying so."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10))
    audio.recv_at[3] = 0.0
    report = build_report(record)
    assert not report.passed
    assert report.frames.lost_outside_gaps == 1
    assert report.error == "1 of 10 frames sent never came back (outside any reconnect gap)"


def test_audio_that_never_resumes_is_not_excused() -> None:
    """A reconnect after which nothing came back excuses nothing."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 5, LegEnd.CLOSED), leg(2, 5, 10)]
    send(audio, range(5))
    send(audio, range(5, 10), back=None)
    report = build_report(record)
    assert not report.passed
    assert report.frames.lost_outside_gaps == 5
    assert report.reconnects[0].gap_ms is None
    assert not report.reconnects[0].audio_resumed


def test_matching_counts() -> None:
    """on_audio sorts what comes back: echoes, silence, strangers, repeats, disorder."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10), back=None)
    frames = audio.frames
    for data in (
        frames[0],
        frames[2],
        frames[1],
        frames[2],
        audio.silence,
        b"\x01" * 320,
        bytearray(frames[3]),
    ):
        audio.on_audio(data)
    assert (audio.received, audio.silent, audio.unmatched) == (7, 1, 1)
    assert (audio.duplicates, audio.out_of_order) == (1, 1)
    assert not build_report(record).echo.byte_exact


def test_an_error_fails_the_call() -> None:
    """A call that ended with an error fails, whatever its audio did."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10))
    record.error = "upgrade refused: HTTP 401"
    report = build_report(record)
    assert not report.passed
    assert report.as_dict()["error"] == "upgrade refused: HTTP 401"
    assert "rtt_ms" not in report.as_dict()


def test_no_audio_at_all() -> None:
    """A call that never streamed reports no frames and its error."""
    record = CallRecord("u", "CON-u", 1.0, error="connection refused: x")
    report = build_report(record)
    assert not report.passed
    assert report.rate is None
    assert report.frames.planned == 0
    assert "FAILED" in render(report)


def test_audio_back_that_is_no_echo_says_so() -> None:
    """Frames came back, none an echo: the verdict says audio came back, not that none did."""
    record, audio = make_record(500)
    record.legs = [leg(1, 0, 500)]
    send(audio, range(500), back=None)
    tone = build_signal(8000, 500 * FRAME, variant=1).frames
    for i in range(500):
        audio.on_audio(tone[i] if i % 5 else audio.silence)
    report = build_report(record)
    assert not report.passed
    assert (report.frames.received, report.frames.echoed) == (500, 0)
    assert report.error == (
        "audio came back (500 messages: 400 of other audio, 100 silent),"
        " but none of it echoed a frame sent (a handler that does not echo: --expect audio)"
    )
    text = render(report)
    assert "no audio came back" not in text
    assert "nothing came back" not in text
    assert "no message that came back matched a frame sent" in text
    assert "100 silent and 400 unmatched messages back" in text


def test_nothing_back_says_so() -> None:
    """A call that got no audio back says exactly that."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10), back=None)
    report = build_report(record)
    assert report.error == "no audio came back"
    assert "echo      none: nothing came back" in render(report)


def test_a_frame_of_another_call_fails_the_echo() -> None:
    """A frame of another call's signal is unmatched: the echo is not byte-exact."""
    record, audio = make_record()
    record.legs = [leg(1, 0, 10)]
    send(audio, range(10))
    audio.on_audio(build_signal(8000, 10 * FRAME, variant=1).frames[4])
    report = build_report(record)
    assert report.frames.unmatched == 1
    assert not report.passed
    assert report.error == "echo not byte-exact: 1 messages back matched no frame sent"
