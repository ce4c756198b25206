"""``python -m bench --smoke --sweep``: every row of the results is produced (no timing checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.caddy_proxy import VARIANTS
from bench.servers import node_available

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        not node_available(), reason="the Node peer (tools/bench/node_echo) needs node and npm"
    ),
    # The first test waits for the whole smoke run (its subprocess has its own bound).
    pytest.mark.timeout(540),
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RESULTS.md of one smoke run, in a temporary folder."""
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    logs = out.parent / "logs"
    argv = [sys.executable, "-m", "bench", "--smoke", "--sweep"]
    argv += ["--out", str(out), "--log-dir", str(logs)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=480, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_smoke_writes_every_table(smoke: Path) -> None:
    """The targets, the servers, Caddy, its settings and the webhooks are all there."""
    text = smoke.read_text()
    for heading in (
        "## Targets",
        "## Echo servers, direct",
        "## Where audio_socket's time goes",
        "## Through Caddy",
        "## Caddy settings",
        "## Answer webhook",
        "## The local stack: CPU per process",
        "## The echo while calls wait on REST requests",
        "## How the cost grows",
        "## Voice bot",
    ):
        assert heading in text
    for variant in VARIANTS:
        assert f"| {variant.name} |" in text
    assert "python -m bench --smoke" in text
    assert "CPU per frame sent, prompts ≤ 1.5 x echo" in text  # the paced-playout row
    assert "coroutine handler ≤ 1.25 x callback" in text  # the coroutine form's row
    assert "CPU per frame ≤ 0.5 x best FastAPI (4 calls)" in text
    assert "memory per call ≤ 1/4 x best FastAPI (4 calls)" in text
    assert "- **Measured**: " in text  # calls on one core under 20 ms p99, or why none
    assert "a core full to 100 % carries" in text  # and extrapolated from per-frame costs
    assert smoke.with_name("RESULTS-sweep.png").read_bytes().startswith(b"\x89PNG")


def test_smoke_every_run_echoed_audio(smoke: Path) -> None:
    """Each load run got frames back, from each server, with no call failed."""
    raw = json.loads(smoke.with_suffix(".json").read_text())
    rows = raw["direct"] + raw["caddy"] + raw["variants"] + raw["sweep"] + raw["rest"]
    assert {r["server"] for r in raw["direct"]} == {
        "audio_socket",
        "audio_socket, coroutine handler",
        "node",
        "minimal echo",
        "floor (bare uvloop)",
        "audio_socket, prompts",
        "FastAPI + uvicorn, websockets",
        "FastAPI + uvicorn, websockets-sansio",
        "FastAPI + uvicorn, wsproto",
    }
    assert len(raw["caddy"]) == 3
    assert len(raw["variants"]) == len(VARIANTS)
    for row in rows:
        assert row["frames_echoed"] > 0, row
        assert row["calls_failed"] == 0, row
        assert row["server_us_per_frame"] is not None, row
    assert all(r["caddy_us_per_frame"] is not None for r in raw["caddy"] + raw["variants"])
    assert raw["webhooks"]["failed"] == 0
    # the sweep: audio_socket, one FastAPI variant and Node at each of its two points
    assert len(raw["sweep"]) == 6
    assert {r["calls"] for r in raw["sweep"]} == {2, 4}
    assert sum(r["server"].startswith("FastAPI") for r in raw["sweep"]) == 2
    assert all(r["load_busy_percent"] is not None for r in raw["sweep"])
    stack = [r for r in raw["caddy"] if r["path"] != "as caddy/Caddyfile (TLS)"]
    assert all(r["caddy_busy_percent"] is not None for r in stack)


def test_smoke_voice_bot_answered_or_says_why(smoke: Path) -> None:
    """One caller, two turns: answered and barged in on, or the one line naming what is
    not installed."""
    raw = json.loads(smoke.with_suffix(".json").read_text())
    if raw["bot_missing"] is not None:
        assert "Not measured: the bot's requirements are missing" in smoke.read_text()
        return
    (one,) = raw["bot"]["rounds"]
    assert one["passed"], one["failed_turns"]
    assert one["reply_latency_ms"]["count"] == 2
    assert one["barge_in_stop_ms"]["max"] is not None
    assert "voice bot: reply p50 ≤ 800 ms (1 call)" in smoke.read_text()


def test_smoke_rest_calls_got_answers(smoke: Path) -> None:
    """The REST row's waiting calls were answered by the simulator's API, the quiet run not."""
    rest = json.loads(smoke.with_suffix(".json").read_text())["rest"]
    assert len(rest) == 2
    quiet, waiting = rest
    assert quiet["server"] == "audio_socket, no REST requests"
    assert quiet["rest_answered"] == 0
    assert waiting["rest_answered"] >= 1


def test_smoke_profiled_audio_socket(smoke: Path) -> None:
    """py-spy sampled the server while calls ran (a few calls: too little work to sort)."""
    profile = json.loads(smoke.with_suffix(".json").read_text())["profile"]
    if profile["error"] and "ermission" in profile["error"]:
        pytest.skip(f"this machine does not let py-spy read another process: {profile['error']}")
    assert profile["error"] is None
    assert profile["samples"] > 0
    assert set(profile["busy"]) == {"send()", "recv()", "Python", "event loop (C)"}


def test_smoke_leaves_no_process(smoke: Path) -> None:
    """Every process the run started was stopped: no log owner is still alive."""
    logs = smoke.parent / "logs"
    assert logs.is_dir()
    mine = subprocess.run(
        ["pgrep", "-f", str(logs)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert mine == []
