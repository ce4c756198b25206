"""tools/bench/report.py: the performance targets computed from rows."""

from __future__ import annotations

from dataclasses import replace

from bench.report import Results, combine, render, targets
from bench.runs import Row
from bench.webhooks_rate import WebhooksFigures


def _row(server: str, cpu: float, rss: float, p99: float, lost: int = 0) -> Row:
    return Row(
        server=server,
        path="direct",
        calls=200,
        frames_sent=1000,
        frames_echoed=1000 - lost,
        frames_lost=lost,
        calls_failed=0,
        rtt_p50_ms=0.5,
        rtt_p99_ms=p99,
        server_us_per_frame=cpu,
        server_kib_per_call=rss,
        server_busy_percent=50.0,
        caddy_us_per_frame=None,
        sim_late_p99_ms=1.0,
        errors={},
    )


def _hooks(p99: float) -> WebhooksFigures:
    return WebhooksFigures(2000.0, 99.0, 200.0, 1.0, p99, 9.0, 0, 1.0)


def test_targets_pass_at_the_ratios() -> None:
    """0.8 x CPU, equal p99, nothing lost, 1/4 memory and a 5 ms webhook p99 all pass."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.direct = [_row("audio_socket", 16.0, 16.0, 3.0), _row("node", 20.0, 64.0, 3.0)]
    results.webhooks = _hooks(5.0)
    assert [t.passed for t in targets(results)] == [True] * 5


def test_targets_fail_past_the_ratios() -> None:
    """Just past each limit fails; the rendered table says FAIL."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.direct = [_row("audio_socket", 17.0, 17.0, 3.1, lost=1), _row("node", 20.0, 64.0, 3.0)]
    results.webhooks = _hooks(5.1)
    assert [t.passed for t in targets(results)] == [False] * 5
    assert "**FAIL**" in render(results)


def _round(row: Row, number: int) -> Row:
    return replace(row, round=number)


def test_rounds_combine_to_medians_and_totals() -> None:
    """Three rounds: the median of each figure, frames lost added up, the worst other load."""
    rows = [
        _round(replace(_row("audio_socket", cpu, 5.0, p99, lost=lost), foreign_cpu_percent=f), n)
        for n, (cpu, p99, lost, f) in enumerate(
            [(14.0, 2.0, 0, 1.0), (30.0, 9.0, 2, 40.0), (15.0, 3.0, 1, 2.0)], start=1
        )
    ]
    [combined] = combine(rows)
    assert combined.server_us_per_frame == 15.0
    assert combined.rtt_p99_ms == 3.0
    assert combined.frames_lost == 3
    assert combined.frames_sent == 3000
    assert combined.foreign_cpu_percent == 40.0
    assert combined.round == 0


def test_one_slow_round_does_not_decide_a_target() -> None:
    """Node slow in one round only: the median ratio decides, each round's is shown."""
    results = Results(["bench"], {0}, {1}, 20.0, rounds=3)
    ours = [(16.0, 3.0), (16.0, 3.0), (25.0, 9.0)]  # round 3: another load landed on us
    theirs = [(20.0, 3.0), (21.0, 3.5), (20.0, 3.0)]
    for n, (mine, node) in enumerate(zip(ours, theirs, strict=True), 1):
        results.direct.append(_round(_row("audio_socket", mine[0], 5.0, mine[1]), n))
        results.direct.append(_round(_row("node", node[0], 64.0, node[1]), n))
    found = targets(results)
    assert [t.passed for t in found] == [True] * 4
    assert "rounds: 0.800, 0.762, 1.250" in found[0].measured
    text = render(results)
    assert "16.0 (16.0-25.0)" in text  # the median, and the rounds' range
    assert "- rounds: 3;" in text


def test_lost_frames_in_any_round_fail() -> None:
    """A frame lost in one round of three fails 'nothing lost'."""
    results = Results(["bench"], {0}, {1}, 20.0, rounds=3)
    for n in (1, 2, 3):
        results.direct.append(_round(_row("audio_socket", 16.0, 5.0, 3.0, lost=int(n == 2)), n))
        results.direct.append(_round(_row("node", 20.0, 64.0, 3.0), n))
    lost = [t for t in targets(results) if t.name.startswith("nothing lost")]
    assert [t.passed for t in lost] == [False]


def test_prompts_target_compares_with_the_echo() -> None:
    """Paced prompts pass at 1.5 x the echo's CPU per frame sent, fail just past it."""
    results = Results(["bench"], {0}, {1}, 20.0)
    echo = _row("audio_socket", 16.0, 5.0, 3.0)
    for cpu, passed in ((24.0, True), (24.2, False)):
        results.direct = [echo, _row("audio_socket, prompts", cpu, 5.0, 3.0)]
        [target] = [t for t in targets(results) if "prompts" in t.name]
        assert target.name == "CPU per frame sent, prompts ≤ 1.5 x echo (200 calls)"
        assert target.passed is passed


def test_coroutine_target_compares_with_the_callback_echo() -> None:
    """The coroutine form passes at 1.25 x the callback echo's CPU per frame, fails past it."""
    results = Results(["bench"], {0}, {1}, 20.0)
    echo = _row("audio_socket", 20.0, 5.0, 3.0)
    for cpu, passed in ((25.0, True), (25.2, False)):
        results.direct = [echo, _row("audio_socket, coroutine handler", cpu, 5.0, 3.0)]
        [target] = [t for t in targets(results) if "coroutine" in t.name]
        assert target.name == (
            "CPU per echoed frame, coroutine handler ≤ 1.25 x callback (200 calls)"
        )
        assert target.passed is passed


def test_prompts_row_reports_no_loss_figure() -> None:
    """The prompts handler drops the caller's frames by design: its row says so instead
    of counting them as lost, and the echo's row still counts its losses."""
    results = Results(["bench"], {0}, {1}, 20.0)
    results.direct = [
        _row("audio_socket", 16.0, 5.0, 3.0, lost=3),
        _row("audio_socket, prompts", 20.0, 5.0, 3.0, lost=1000),
    ]
    table = {line.split(" | ")[0]: line for line in render(results).splitlines()}
    assert " | n/a (drops the caller's) | " in table["| audio_socket, prompts"]
    assert " | 3 | " in table["| audio_socket"]
