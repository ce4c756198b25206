"""No process of the stack outlives ``python -m stack run``: a closed terminal (SIGHUP)
stops it in order, a killed launcher takes its children with it, and a reader that
goes away does not cut a stop short."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stack.leftovers import RECORD_NAME
from stack.ports import pick_free_port
from stack.processes import wait_until
from tests.e2e.conftest import e2e_environ
from tests.e2e.helpers import TIMEOUT

pytestmark = pytest.mark.e2e

#: Long enough that the call is live when the launcher is signalled, and shorter
#: than DRAIN_TIMEOUT, so that a drain lets it complete.
CALL_SECONDS = 3.0
DRAIN_TIMEOUT = "15"
#: What the brief promises for a launcher killed with SIGKILL.
KILLED_CHILDREN_GONE = 5.0


@dataclass
class Launcher:
    """``python -m stack run`` as a subprocess, with its state folder and port."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    port: int

    @property
    def base_url(self) -> str:
        """Caddy's URL."""
        return f"https://localhost:{self.port}"

    def wait_ready(self) -> None:
        """Until the stack runs: its lock file names the URL once start-up is done."""
        lock = self.state_dir / "stack.lock"

        def ready() -> bool:
            assert self.process.poll() is None, "the launcher exited"
            return lock.is_file() and self.base_url in lock.read_text()

        wait_until(ready, "the launcher", 90.0)

    def children(self) -> dict[str, int]:
        """Name to pid of every child, from the run's record."""
        record = json.loads((self.state_dir / RECORD_NAME).read_text())
        return {child["name"]: child["pid"] for child in record["children"]}

    def replica_metrics_url(self) -> str:
        """``/metrics`` of audio-1, read from its log's ``listening`` line."""
        log = (self.state_dir / "logs" / "audio-1.log").read_text()
        found = re.search(r'"host": "([\d.]+)", "port": (\d+)', log)
        assert found is not None, log
        return f"http://{found[1]}:{found[2]}/metrics"


@contextmanager
def launcher(tmp_path: Path, stdout: int | None = subprocess.DEVNULL) -> Iterator[Launcher]:
    """A running launcher on its own folder and ports, killed if the test left it."""
    port = pick_free_port(["127.0.0.1"])
    argv = [sys.executable, "-m", "stack", "run", "--https-port", str(port)]
    argv += ["--state-dir", str(tmp_path)]
    env = e2e_environ(DRAIN_TIMEOUT=DRAIN_TIMEOUT)
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=stdout)
    try:
        running = Launcher(process, tmp_path, port)
        running.wait_ready()
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def start_call(stack: Launcher) -> subprocess.Popen[bytes]:
    """``python -m simulator call``, as a user places one; returns once it is live."""
    argv = [sys.executable, "-m", "simulator", "call", stack.base_url, "--json"]
    argv += ["--seconds", str(CALL_SECONDS)]
    env = e2e_environ(STACK_STATE_DIR=str(stack.state_dir))
    call = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = stack.replica_metrics_url()

    def live() -> bool:
        assert call.poll() is None, call.communicate()
        text = httpx.get(url, timeout=TIMEOUT, trust_env=False).text
        return re.search(r"^audio_calls_active 1(\.0)?$", text, re.MULTILINE) is not None

    wait_until(live, "the call", TIMEOUT)
    return call


def running(pids: dict[str, int]) -> dict[str, int]:
    """Those of ``pids`` that run (a zombie waiting for its reaper does not)."""
    alive = {}
    for name, pid in pids.items():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in {"Z", "X"}:
            alive[name] = pid
    return alive


def test_sighup_drains_the_live_call_then_stops_everything(tmp_path: Path) -> None:
    """The terminal closing is a stop: the call completes while its replica drains."""
    with launcher(tmp_path) as stack:
        children = stack.children()
        assert set(children) == {"voice-api", "webhooks", "audio-1", "caddy"}
        call = start_call(stack)
        stack.process.send_signal(signal.SIGHUP)
        status = stack.process.wait(float(DRAIN_TIMEOUT) + TIMEOUT * 2)
        report, errors = call.communicate(timeout=TIMEOUT)
    assert status == 0
    assert call.returncode == 0, errors
    assert json.loads(report)["passed"]
    assert not running(children)
    assert not (tmp_path / RECORD_NAME).exists()  # a clean stop leaves no record


def test_sigkill_takes_every_child_with_the_launcher(tmp_path: Path) -> None:
    """A launcher killed outright: its children die too, a live call's replica included."""
    with launcher(tmp_path) as stack:
        children = stack.children()
        call = start_call(stack)
        try:
            stack.process.kill()
            wait_until(lambda: not running(children), "the children", KILLED_CHILDREN_GONE)
        finally:
            call.kill()
            call.communicate()


def test_a_reader_that_goes_away_does_not_stop_the_stop(tmp_path: Path) -> None:
    """``python -m stack run | head -1``, then Ctrl-C: everything stops all the same."""
    read, write = os.pipe()
    head = subprocess.Popen(["head", "-1"], stdin=read, stdout=subprocess.DEVNULL)
    os.close(read)
    try:
        with launcher(tmp_path, stdout=write) as stack:
            os.close(write)
            write = -1
            assert head.wait(TIMEOUT) == 0  # gone after the first line
            children = stack.children()
            call = start_call(stack)
            stack.process.send_signal(signal.SIGINT)
            status = stack.process.wait(float(DRAIN_TIMEOUT) + TIMEOUT * 2)
            call.communicate(timeout=TIMEOUT)
    finally:
        if write >= 0:
            os.close(write)
        head.kill()
        head.wait()
    assert status == 0
    assert call.returncode == 0
    assert not running(children)
