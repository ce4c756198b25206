"""How long a talk speaks: words at the stated rate, SSML not spoken, breaks and loops."""

from __future__ import annotations

import pytest

from simulator.vonage.speech import LEAD_SECONDS, WORDS_PER_MINUTE, speech_seconds, talk_seconds


def test_words_at_the_stated_rate() -> None:
    """150 words a minute: 10 words take 4 s, after the lead."""
    assert WORDS_PER_MINUTE == 150
    text = "Please wait while we connect you to the echo server"
    assert speech_seconds(text) == pytest.approx(LEAD_SECONDS + 10 * 60 / 150)


def test_ssml_tags_are_not_words_and_breaks_add_their_pause() -> None:
    """Markup is not spoken; a break of 500 ms and one of 1 s add 1.5 s."""
    plain = speech_seconds("Hello there friend")
    marked = speech_seconds(
        '<speak>Hello <break time="500ms"/> there <break time="1s"/> friend</speak>'
    )
    assert marked == pytest.approx(plain + 1.5)


def test_loop_repeats_the_speech() -> None:
    """loop 3 holds the call flow three times as long."""
    assert talk_seconds("one two three", 3) == pytest.approx(3 * speech_seconds("one two three"))
