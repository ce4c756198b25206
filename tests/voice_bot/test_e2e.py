"""The voice bot end to end: the local stack (real Caddy, real TLS) and ``simulator converse``.

Two scripted callers at once speak to the bot through the same launcher as ``make
run-bot``: each is answered with what it said, talks over an answer and is heard,
and says goodbye, which hangs up through the REST API. The audio replica's event
loop keeps its 20 ms pace meanwhile: its own lag histogram (``/metrics``) has a p99
under 50 ms over the calls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stack import Stack
from tests.e2e.conftest import start_stack
from tests.voice_bot.helpers import require_speech

pytestmark = pytest.mark.e2e

SCRIPT = """
turns:
  - say: "I would like a table for two people"
    heard_contains: [said, table]
    within: 4
  - say: "Please send the receipt to my email address as soon as you can"
    expect: reply
    within: 4
  - say: "What time does the store open tomorrow"
    interrupt_after: 1.0
    heard_contains: [store]
    within: 4
  - say: "Goodbye"
    expect: hangup
    within: 8
"""
CALLS = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One audio replica running the bot, as `make run-bot` starts it."""
    require_speech()
    if shutil.which("espeak-ng") is None:  # converse's caller speaks with it
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is missing (.ci/run installs it)")
        pytest.skip("espeak-ng is not installed")
    started = start_stack(
        tmp_path_factory.mktemp("voice-bot"),
        audio_replicas=1,
        AUDIO_HANDLER="voice_bot:voice_bot",
        HF_HUB_OFFLINE="1",
        ORT_DISABLE_TELEMETRY="1",
    )
    try:
        yield started
    finally:
        started.stop()


def lag_buckets(stack: Stack) -> dict[float, float]:
    """The replica's event-loop lag histogram: cumulative count per upper bound."""
    text = httpx.get(f"{stack.replicas[0].url}/metrics", timeout=5).text
    buckets = {}
    for line in text.splitlines():
        if line.startswith("audio_event_loop_lag_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The upper bound of the bucket holding the 99th percentile of the probes between."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts[float("inf")]
    return next(bound for bound, count in counts.items() if count >= 0.99 * total)


def test_two_callers_talk_to_the_bot(stack: Stack, tmp_path: Path) -> None:
    """Every turn passes for both callers; barge-in stops the bot; the loop keeps time."""
    script = tmp_path / "bot.yaml"
    script.write_text(SCRIPT)
    converse = [sys.executable, "-m", "simulator", "converse", stack.base_url]
    options = ["--script", str(script), "--calls", str(CALLS), "--json"]
    before = lag_buckets(stack)
    done = subprocess.run(
        [*converse, *options, "--speech-cache", str(tmp_path / "speech")],
        capture_output=True,
        text=True,
        timeout=150,
        env={**os.environ, "STACK_STATE_DIR": str(stack.config.state_dir)},
        check=False,
    )
    assert done.stdout, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["passed"], json.dumps(report["turns"], indent=1)[-3000:]
    assert report["reply_latency_ms"]["count"] == CALLS * 4
    stops = [t["barge_in_stop_ms"] for t in report["turns"] if t["barge_in_stop_ms"] is not None]
    assert len(stops) == CALLS
    assert max(stops) <= 250, stops  # the onset's frame, the VAD's window, Vonage's clear
    # Each reply plays through with no gap at the caller's ear while the other call's
    # turns are recognised and synthesised on the same replica.
    underruns = [(t["index"], t["underruns"]) for t in report["turns"] if t["underruns"]]
    assert underruns == [], underruns
    assert p99(before, lag_buckets(stack)) <= 0.05
