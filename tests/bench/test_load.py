"""tools/bench/load.py: usage over a run from /proc samples."""

from __future__ import annotations

from bench.load import LoadRun, Watched, _usage
from bench.procs import Usage


def test_rss_is_taken_with_every_call_connected() -> None:
    """Memory growth is read where the most sockets were open, not at the end."""
    before = Usage(cpu_s=1.0, rss_bytes=10_000, sockets=1)
    samples = [Usage(1.5, 50_000, 60), Usage(2.0, 90_000, 101), Usage(2.5, 91_000, 101)]
    after = Usage(3.0, 20_000, 1)
    watched = _usage(before, samples, after)
    assert watched.cpu_s == 2.0
    assert watched.peak_sockets == 100
    assert watched.rss_delta_bytes == 80_500


def test_per_frame_and_per_call() -> None:
    """CPU per echoed frame in µs; RSS per call in KiB."""
    run = LoadRun({"frames_received": 1000}, {"server": Watched(0.02, 1024 * 100, 100)})
    assert run.cpu_us_per_frame("server") == 20.0
    assert run.rss_kib_per_call("server", 100) == 1.0
    assert run.cpu_us_per_frame("caddy") is None
