"""``tools/stack/leftovers.py`` and ``python -m stack stop``: what an earlier run left
running is named by the next start and stopped by ``stop``, and a reused pid is not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.cli import main
from stack.leftovers import (
    RECORD_NAME,
    ProcessRecord,
    RecordedProcess,
    find_leftovers,
    is_running,
    read_record,
    start_time,
)
from stack.state_lock import StateLock

TIMEOUT = 10.0
SLEEP = ("sleep", "300")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process standing in for one a killed launcher left running."""
    process = subprocess.Popen(SLEEP)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def plant_record(root: Path, *children: RecordedProcess) -> None:
    """An earlier run's record, as its launcher (pid 4242, long gone) wrote it."""
    launcher = {"name": "launcher", "pid": 4242, "start_time": 1, "argv": ["python"]}
    entries = [
        {"name": c.name, "pid": c.pid, "start_time": c.start_time, "argv": list(c.argv)}
        for c in children
    ]
    (root / RECORD_NAME).write_text(json.dumps({"launcher": launcher, "children": entries}))


def as_recorded(name: str, process: subprocess.Popen[bytes], later: int = 0) -> RecordedProcess:
    """``process`` as a run would have recorded it; ``later`` shifts its start time."""
    started = start_time(process.pid)
    assert started is not None
    return RecordedProcess(name, process.pid, started + later, SLEEP)


def test_a_process_is_itself_only_with_its_command_line_and_start_time(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """A reused pid runs another command, or started at another time: not the recorded one."""
    recorded = as_recorded("audio-1", sleeper)
    assert is_running(recorded)
    assert not is_running(as_recorded("audio-1", sleeper, later=1))
    assert not is_running(RecordedProcess("audio-1", sleeper.pid, recorded.start_time, ("x",)))
    sleeper.kill()
    sleeper.wait()
    assert not is_running(recorded)


def test_record_holds_the_launcher_and_its_children_until_cleared(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """begin, add, clear: the file says who ran; a clean stop removes it."""
    record = ProcessRecord(tmp_path)
    record.add("ignored", sleeper.pid, SLEEP)  # before begin: not this run's
    record.begin()
    record.add("audio-1", sleeper.pid, SLEEP)
    launcher, children = read_record(tmp_path)
    assert launcher is not None
    assert launcher.pid == os.getpid()
    assert [(c.name, c.pid, c.argv) for c in children] == [("audio-1", sleeper.pid, SLEEP)]
    assert find_leftovers(tmp_path) == children
    record.clear()
    assert not (tmp_path / RECORD_NAME).exists()


def test_run_names_the_leftovers_and_stop_stops_them(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused naming the live one with its pid and the stop command; the one whose start
    time differs is not named; ``stop`` stops the live one and exits 0."""
    plant_record(tmp_path, as_recorded("audio-1", sleeper), as_recorded("caddy", sleeper, later=1))
    assert main(["run", "--https-port", "0", "--state-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"are still running: audio-1 (pid {sleeper.pid}).\n" in out
    assert "left over from that run: its launcher (pid 4242) ended" in out
    assert f"  python -m stack stop --state-dir {tmp_path}" in out
    assert "caddy" not in out
    assert not (tmp_path / "logs").exists()  # nothing was started or written
    assert main(["stop", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"stopped audio-1 (pid {sleeper.pid})\n"
    assert sleeper.wait(TIMEOUT) == -signal.SIGTERM
    assert not (tmp_path / RECORD_NAME).exists()
    assert main(["stop", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("nothing to stop")


def test_stop_leaves_a_running_stack_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """While a launcher holds the folder, its processes are not left over: exit 1."""
    plant_record(tmp_path, as_recorded("audio-1", sleeper))
    running = StateLock(tmp_path)
    running.acquire()
    running.describe("pid 4242, https://localhost:8443")
    try:
        assert main(["stop", "--state-dir", str(tmp_path)]) == 1
    finally:
        running.release()
    assert "is running (pid 4242, https://localhost:8443)" in capsys.readouterr().out
    assert sleeper.poll() is None


def test_stop_kills_what_ignores_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM, a wait, then SIGKILL, said as such."""
    code = "import signal, time; signal.signal(15, signal.SIG_IGN); print(1, flush=True)"
    code += "; time.sleep(300)"
    argv = (sys.executable, "-c", code)
    stubborn = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline() == b"1\n"  # SIGTERM is ignored from now on
        started = start_time(stubborn.pid)
        assert started is not None
        plant_record(tmp_path, RecordedProcess("caddy", stubborn.pid, started, argv))
        monkeypatch.setattr("stack.cli.LEFTOVER_STOP_TIMEOUT", 0.5)
        assert main(["stop", "--state-dir", str(tmp_path)]) == 0
        assert stubborn.wait(TIMEOUT) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.communicate()
    out = capsys.readouterr().out
    assert out == f"killed caddy (pid {stubborn.pid}): still running 0.5 s after SIGTERM\n"
