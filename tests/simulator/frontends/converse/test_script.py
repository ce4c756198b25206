"""The script's checks: every problem refused before the call, naming the turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main
from simulator.frontends.converse import main as converse_main
from simulator.frontends.converse.script import ScriptError, load_script, parse_script
from simulator.speech import asr


def refusal(turns: Any, folder: Path) -> str:
    """The message a script is refused with."""
    with pytest.raises(ScriptError) as caught:
        parse_script({"turns": turns}, folder)
    return str(caught.value)


def test_a_good_script_is_read(tmp_path: Path) -> None:
    """Each action and option lands in its turn; within defaults to 3 s."""
    (tmp_path / "hello.wav").write_bytes(b"")
    path = tmp_path / "script.yaml"
    path.write_text(
        "turns:\n"
        "  - say: hello.wav\n"
        "    expect: reply\n"
        "  - say: Book a table\n"
        "    interrupt_after: 0.5\n"
        "    heard_contains: [booked]\n"
        "  - dtmf: '12#'\n"
        "    expect: hangup\n"
        "    within: 2\n"
        "  - silence: 1.5\n"
    )
    say_wav, say_text, dtmf, silence = load_script(path).turns
    assert say_wav.wav == tmp_path / "hello.wav"
    assert say_wav.within == 3.0
    assert say_text.text == "Book a table"
    assert say_text.interrupt_after == 0.5
    assert say_text.expects_reply
    assert say_text.heard_contains == ("booked",)
    assert (dtmf.digits, dtmf.expect, dtmf.within) == ("12#", "hangup", 2.0)
    assert silence.seconds == 1.5
    assert silence.expect is None


@pytest.mark.parametrize(
    ("turn", "words"),
    [
        ({"say": "hi", "expext": "reply"}, "unknown key 'expext'"),
        ({"say": "hi", "dtmf": "1"}, "exactly one of say, dtmf, silence (found say and dtmf)"),
        ({"expect": "reply"}, "(found none)"),
        ({"dtmf": 12}, "quoted string"),
        ({"say": "hi", "within": 2}, "within needs an expect"),
        ({"dtmf": "1", "interrupt_after": 1}, "interrupt_after is for say turns only"),
        ({"say": "hi", "expect": "music"}, "expect is one of"),
        ({"silence": -1}, "silence must be between"),
        ({"say": "missing.wav"}, "no such WAV file"),
        ({"say": "hi", "expect": "silence", "heard_contains": ["x"]}, "checks a reply"),
    ],
)
def test_a_bad_turn_is_refused_by_its_index(
    turn: dict[str, Any], words: str, tmp_path: Path
) -> None:
    """The message names turns[1] and the problem."""
    message = refusal([{"say": "hello"}, turn], tmp_path)
    assert message.startswith("turns[1]: ")
    assert words in message


def test_a_script_must_be_a_mapping_of_turns(tmp_path: Path) -> None:
    """Unknown top-level keys and empty turns are refused too."""
    with pytest.raises(ScriptError, match="unknown key 'turn'"):
        parse_script({"turns": [{"say": "hi"}], "turn": []}, tmp_path)
    with pytest.raises(ScriptError, match="non-empty list"):
        parse_script({"turns": []}, tmp_path)


def test_a_script_error_is_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line naming the turn; the URL (nothing listens there) is never called."""
    path = tmp_path / "bad.yaml"
    path.write_text("turns:\n  - say: hi\n  - say: hello\n    dtmf: '1'\n")
    status = main(["converse", "http://127.0.0.1:9", "--unsigned", "--script", str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("simulator: error: turns[1]: a turn has exactly one of")


def test_a_script_needing_the_recognizer_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without faster-whisper, heard_contains is refused before the call, naming the fix."""
    monkeypatch.setattr(asr, "asr_available", lambda: False)
    script = parse_script({"turns": [{"dtmf": "1", "heard_contains": ["x"]}]}, tmp_path)
    with pytest.raises(ScriptError.__mro__[1], match=r"requirements/speech\.txt"):
        converse_main.voices(script, tmp_path)
