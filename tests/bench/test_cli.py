"""``python -m bench`` options: bad ones are refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import _plan, build_parser, main, recorded_command
from bench.procs import BenchError


def test_defaults_repeat_each_measurement_three_times() -> None:
    """A full run: 200 and 500 calls, 20 s, three interleaved rounds; quick and smoke: one."""
    plan = _plan(build_parser().parse_args([]))
    assert (plan.calls, plan.seconds, plan.rounds) == ([200, 500], 20.0, 3)
    assert _plan(build_parser().parse_args(["--quick"])).rounds == 1
    assert _plan(build_parser().parse_args(["--smoke"])).rounds == 1
    assert _plan(build_parser().parse_args(["--quick", "--rounds", "2"])).rounds == 2


def test_the_sweep_and_the_rest_row_defaults() -> None:
    """The sweep's five points; 100 echo calls beside 20 waiting on REST, long enough for
    an answer after 5 s even in a short run."""
    plan = _plan(build_parser().parse_args([]))
    assert plan.sweep == [50, 100, 200, 500, 1000]
    # The local stack closes in on the most calls one core carries under 20 ms p99.
    assert plan.stack == [200, 250, 300, 500]
    assert _plan(build_parser().parse_args(["--stack-calls", ""])).stack == [200, 500]
    assert _plan(build_parser().parse_args(["--smoke"])).stack == [4]
    assert plan.rest == (100, 20)
    assert plan.rest_seconds == 20.0
    assert _plan(build_parser().parse_args(["--smoke"])).rest_seconds == 8.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--calls", "200,lots"], "--calls must be numbers"),
        (["--calls", "0"], "--calls must list at least one count"),
        (["--calls", ","], "--calls must list at least one count"),
        (["--sweep-calls", "50,x"], "--sweep-calls must be numbers"),
        (["--stack-calls", "300,x"], "--stack-calls must be numbers"),
        (["--rest-calls", "200"], "--rest-calls must be two numbers N,M"),
        (["--rest-calls", "200,0"], "--rest-calls needs at least one echo call"),
        (["--calls-per-worker", "0"], "--calls-per-worker must be at least 1"),
    ],
)
def test_bad_options_are_named(argv: list[str], message: str) -> None:
    """Each bad option is named in the error."""
    with pytest.raises(BenchError, match=message):
        _plan(build_parser().parse_args(argv))


def test_bad_option_exits_1_without_starting_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """main() reports the error and returns 1; no results are written."""
    out = f"{tmp_path}/RESULTS.md"
    assert main(["--rounds", "0", "--out", out]) == 1
    assert "--rounds must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "recorded"),
    [
        (["--calls", "200,500"], ["--calls", "200,500"]),
        (["--log-dir", "logs/x", "--seconds", "20"], ["--seconds", "20"]),
        (["--out=out/r.md", "--smoke", "--log-dir=logs/l"], ["--smoke"]),
        (["--smoke", "--out", "out/r.md"], ["--smoke"]),
    ],
)
def test_recorded_command_names_no_folder(argv: list[str], recorded: list[str]) -> None:
    """RESULTS.md records what was measured, not where the files went."""
    assert recorded_command(argv) == ["python", "-m", "bench", *recorded]
