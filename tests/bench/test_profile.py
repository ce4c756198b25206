"""tools/bench/profile.py: py-spy's raw samples sorted into where the time went."""

from __future__ import annotations

from bench.profile import classify

RAW = "\n".join(
    [
        "main (a.py:1);uv_run (core.c:1);epoll_pwait (libc.so.6) 60",
        "main (a.py:1);data_received (c.py:9);send_binary (c.py:215);write (libc.so.6) 20",
        "main (a.py:1);uv__read (stream.c:1);read (libc.so.6) 5",
        "main (a.py:1);data_received (c.py:9);feed (wire.py:158) 10",
        "main (a.py:1);data_received (c.py:9);feed (wire.py:141) 3",
        "main (a.py:1);uv__io_poll (linux.c:1517) 2",
        "main (a.py:1);write (mymodule.py:4) 1",  # a Python function named write
        "not a sample line",
        "",
    ]
)


def test_classify_sorts_busy_samples_and_sets_waiting_apart() -> None:
    """send/recv are libc leaves, Python lines are .py leaves, epoll waits are not busy."""
    profile = classify(RAW)
    assert profile.samples == 101
    assert profile.waiting == 60
    assert profile.busy == {"send()": 20, "recv()": 5, "Python": 14, "event loop (C)": 2}
    assert profile.busy_samples == 41
    assert profile.top_python[0] == ("feed (wire.py:158)", 10)
    assert len(profile.top_python) == 3


def test_classify_of_nothing() -> None:
    """No samples: nothing busy, no error invented."""
    profile = classify("")
    assert profile.busy_samples == 0
    assert profile.error is None
