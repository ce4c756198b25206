"""bench/report.py: issue 6's targets computed from rows."""

from __future__ import annotations

from bench.report import Results, render, targets
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
