"""converse against the test bot: latency tracks its delay, barge-in, within, hangup, words.

Bounds are loose (a loaded 2-core machine); exact figures are the bench's.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from tests.simulator.frontends.converse.bot import Bot
from tests.simulator.frontends.converse.conftest import Converse

ASK = "I would like a table for two"


async def test_reply_latency_tracks_the_bots_delay(converse: Converse, prompt: bytes) -> None:
    """Measured at the ear, the reply latency follows the bot's delay D (300 and 1,200 ms)."""
    figures: dict[int, float] = {}
    for delay_ms in (300, 1200):
        turns = [{"say": ASK, "expect": "reply"}, {"say": "Thank you", "expect": "reply"}]
        async with converse(Bot(prompt, delay_ms / 1000), turns) as report:
            assert report.passed, [t.why for t in report.turns]
            latencies = [t.reply_latency_ms for t in report.turns]
            for latency in latencies:
                assert latency is not None
                assert delay_ms - 50 <= latency <= delay_ms + 600, latencies
            figures[delay_ms] = min(x for x in latencies if x is not None)
    assert figures[1200] - figures[300] >= 500, figures


async def test_barge_in_stops_within_the_queued_audio(converse: Converse, prompt: bytes) -> None:
    """Spoken over, the bot clears: the reply stops within what was queued plus 150 ms."""
    bot = Bot(prompt, 0.3)
    turns = [
        {"say": ASK, "expect": "reply"},
        {"say": "Actually make it three", "interrupt_after": 0.5, "expect": "reply"},
    ]
    async with converse(bot, turns) as report:
        over = report.turns[1]
        assert bot.clears >= 1
        assert over.barge_in_stop_ms is not None
        assert over.queued_at_onset_ms is not None
        assert over.barge_in_stop_ms <= over.queued_at_onset_ms + 150, over
        assert report.passed, [t.why for t in report.turns]


async def test_a_missed_within_fails_the_turn(converse: Converse, prompt: bytes) -> None:
    """A reply later than ``within`` fails that turn, and says why."""
    turns = [{"say": ASK, "expect": "reply"}, {"say": "Hello", "expect": "reply", "within": 0.5}]
    async with converse(Bot(prompt, 1.2), turns) as report:
        assert not report.passed
        assert report.turns[0].passed
        assert not report.turns[1].passed
        assert "within 0.5 s" in report.turns[1].why
        assert report.as_dict()["turns"][1]["index"] == 1


async def test_expect_hangup_passes_when_the_bot_hangs_up(
    converse: Converse, prompt: bytes
) -> None:
    """DTMF # makes the bot hang up through the REST API: the expectation holds."""
    turns = [{"say": ASK, "expect": "reply"}, {"dtmf": "#", "expect": "hangup"}]
    async with converse(Bot(prompt, 0.3), turns) as report:
        assert report.passed, [t.why for t in report.turns]
        assert report.calls[0].ended_by == "application: hangup"


async def test_expect_hangup_fails_when_the_bot_only_closes_its_socket(
    converse: Converse, prompt: bytes
) -> None:
    """A closed socket is an accident Vonage reconnects, not a hangup."""
    bot = Bot(prompt, 0.3, hash_closes_socket=True)
    async with converse(bot, [{"dtmf": "#", "expect": "hangup", "within": 1.5}]) as report:
        assert not report.passed
        assert "no hangup through the REST API within 1.5 s" in report.turns[0].why
        assert report.calls[0].ended_by == "caller"


async def test_expect_transfer_passes_on_a_transfer_and_fails_on_a_hangup(
    converse: Converse, prompt: bytes, tmp_path: Path
) -> None:
    """0 transfers through the REST API, # hangs up: only the first is a transfer. The
    caller's ear is written with --out."""
    out = tmp_path / "heard.wav"
    turns = [{"say": ASK, "expect": "reply"}, {"dtmf": "0", "expect": "transfer"}]
    async with converse(Bot(prompt, 0.3), turns, out=out) as report:
        assert report.passed, [t.why for t in report.turns]
    with wave.open(str(out), "rb") as heard:
        assert heard.getnframes() > heard.getframerate()  # more than a second of the call
    async with converse(Bot(prompt, 0.3), [{"dtmf": "#", "expect": "transfer"}]) as report:
        assert not report.passed
        assert "transfer" in report.turns[0].why


@pytest.mark.usefixtures("needs_asr")
async def test_heard_contains_checks_the_reply_words(converse: Converse, prompt: bytes) -> None:
    """The reply is transcribed offline: its words pass, others fail."""
    turns = [
        {"say": ASK, "heard_contains": ["table", "dinner"]},
        {"say": "Thank you", "heard_contains": ["pizza"]},
    ]
    async with converse(Bot(prompt, 0.3), turns) as report:
        first, second = report.as_dict()["turns"]
        assert first["passed"], first
        assert "booked" in first["heard"].lower()
        assert not second["passed"]
        assert "'pizza'" in second["why"]


async def test_the_json_report_has_every_field(converse: Converse, prompt: bytes) -> None:
    """Latency fields are numbers or null, never absent; p50 and p95 are there."""
    turns = [{"say": ASK, "expect": "reply"}, {"silence": 0.5, "expect": "silence", "within": 0.4}]
    async with converse(Bot(prompt, 0.3), turns) as report:
        data = report.as_dict()
        assert data["passed"] is True, data
        assert set(data["reply_latency_ms"]) >= {"p50", "p95"}
        for turn in data["turns"]:
            assert {
                "index",
                "reply_latency_ms",
                "barge_in_stop_ms",
                "heard",
                "passed",
                "why",
            } <= set(turn)
        assert data["turns"][1]["reply_latency_ms"] is None
        assert data["turns"][0]["barge_in_stop_ms"] is None


async def test_many_calls_over_workers(converse: Converse, prompt: bytes) -> None:
    """--calls 3 --workers 2: every turn of every call, percentiles over all of them."""
    turns = [{"say": ASK, "expect": "reply"}]
    async with converse(Bot(prompt, 0.3), turns, calls=3, workers=2) as report:
        data = report.as_dict()
        assert data["passed"], data
        assert sorted(t["call"] for t in data["turns"]) == [0, 1, 2]
        assert data["reply_latency_ms"]["count"] == 3
        assert "slipped" in data
