"""tools/bench/soak.py: memory verdicts and Caddy's Go runtime figures (no soak is run)."""

from __future__ import annotations

from bench.soak import Series, heap_figures, parse_go_runtime, verdict

METRICS = """\
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 417
# HELP go_memstats_heap_alloc_bytes Number of heap bytes allocated and currently in use.
# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 3.145728e+07
# HELP caddy_admin_http_requests_total Counter of requests made to the Admin API.
# TYPE caddy_admin_http_requests_total counter
caddy_admin_http_requests_total{code="200",handler="metrics",method="GET",path="/metrics"} 3
"""


def test_parse_go_runtime() -> None:
    """The live heap in MB and the goroutine count; None when either is missing."""
    assert parse_go_runtime(METRICS) == (30.0, 417.0)
    assert parse_go_runtime("# nothing here\n") is None


def test_heap_figures_after_warm_up() -> None:
    """First and last tenth after warm-up, and the max; nothing before warm-up counts."""
    series = Series("caddy", 1)
    series.go_times = [float(t) for t in range(0, 200, 10)]
    series.heap_mb = [100.0] * 5 + [30.0 + t / 100 for t in range(15)]
    series.goroutines = [50.0] * 5 + [410.0] * 15
    figures = heap_figures(series, warm_from=50.0)
    assert figures["heap_warm_mb"] == 30.0
    assert figures["heap_end_mb"] == 30.1
    assert figures["heap_max_mb"] == 30.1
    assert figures["goroutines_warm"] == figures["goroutines_end"] == 410
    assert heap_figures(Series("webhooks", 2), warm_from=0.0) == {}


def test_memory_growth_fails_the_soak() -> None:
    """Flat memory passes; growing past 10 MB (or 5 %) after warm-up fails, named."""
    flat, leak = Series("audio-1", 1), Series("audio-2", 2)
    for t in range(100):
        flat.times.append(float(t))
        flat.rss_mb.append(50.0 + (t % 3) * 0.1)
        leak.times.append(float(t))
        leak.rss_mb.append(50.0 + t * 0.2)
    memory = [flat.figures(20.0), leak.figures(20.0)]
    assert memory[0]["flat"] is True
    assert memory[1]["flat"] is False
    summary = {"calls_passed": 2, "frames_lost": 0, "reconnects": 0}
    assert verdict(summary, memory, 2) == [f"audio-2 memory grew {memory[1]['growth_mb']} MB"]
    lost = summary | {"frames_lost": 3}
    assert "3 frames lost" in verdict(lost, memory[:1], 2)
