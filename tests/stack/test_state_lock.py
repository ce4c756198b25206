"""``tools/stack/state_lock.py``: one stack per state folder; a second one touches nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stack import Stack, StackConfig
from stack.cli import main
from stack.errors import StartupFailed, StateDirInUse
from stack.state_lock import LOCK_NAME, StateLock


def test_second_lock_on_a_folder_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    """The lock is exclusive, says who holds it, and is free again once released."""
    first, second = StateLock(tmp_path), StateLock(tmp_path)
    first.acquire()
    first.describe("pid 4242, https://localhost:8443")
    with pytest.raises(StateDirInUse) as refused:
        second.acquire()
    assert refused.value.root == tmp_path
    assert refused.value.holder == "pid 4242, https://localhost:8443"
    assert not second.held
    first.release()
    second.acquire()
    with pytest.raises(StateDirInUse):
        StateLock(tmp_path).acquire()
    second.release()
    second.release()  # a second release is harmless


def test_lock_of_a_process_that_died_is_free(tmp_path: Path) -> None:
    """The kernel drops the lock with its process: a killed stack leaves none behind."""
    holder = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from stack.state_lock import StateLock
        StateLock(Path({str(tmp_path)!r})).acquire()
        print("locked", flush=True)
        sys.stdin.read()
        os._exit(1)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        with pytest.raises(StateDirInUse, match=r"pid \d+"):
            StateLock(tmp_path).acquire()
        process.kill()
        process.wait()
    lock = StateLock(tmp_path)
    lock.acquire()
    lock.release()


def test_run_on_a_locked_folder_refuses_and_keeps_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 naming the folder and the way out; secrets.env and logs stay as they were."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "webhooks.log").write_text("the running stack's log\n")
    (tmp_path / "secrets.env").write_text("VONAGE_SIGNATURE_SECRET=the-running-stacks\n")
    running = StateLock(tmp_path)
    running.acquire()
    running.describe("pid 4242, https://localhost:8443")
    try:
        status = main(["run", "--https-port", "0", "--state-dir", str(tmp_path)])
    finally:
        running.release()
    assert status == 1
    out = capsys.readouterr().out
    assert f"not started: the state folder {tmp_path} is in use by another local stack" in out
    assert "(pid 4242, https://localhost:8443)" in out
    assert "--state-dir DIR" in out
    assert "STACK_STATE_DIR=DIR" in out
    assert (tmp_path / "logs" / "webhooks.log").read_text() == "the running stack's log\n"
    assert (tmp_path / "secrets.env").read_text() == "VONAGE_SIGNATURE_SECRET=the-running-stacks\n"
    assert not (tmp_path / "logs.prev").exists()


def test_failed_start_keeps_the_previous_runs_logs_and_frees_the_folder(tmp_path: Path) -> None:
    """The last run's logs move to logs.prev/; this run's failure is in logs/."""
    (tmp_path / "logs").mkdir(parents=True)
    (tmp_path / "logs" / "caddy.log").write_text("the last run\n")
    (tmp_path / "logs.prev").mkdir()
    (tmp_path / "logs.prev" / "caddy.log").write_text("the run before it\n")
    config = StackConfig(
        state_dir=tmp_path,
        https_port=0,
        environ={"SIGNATURE_MAX_AGE": "not-a-number", "DRAIN_TIMEOUT": "1"},
        startup_timeout=60.0,
    )
    with pytest.raises(StartupFailed, match="webhooks exited"):
        Stack(config).start()
    assert (tmp_path / "logs.prev" / "caddy.log").read_text() == "the last run\n"
    assert "SIGNATURE_MAX_AGE" in (tmp_path / "logs" / "webhooks.log").read_text()
    assert (tmp_path / LOCK_NAME).read_text() == ""
    lock = StateLock(tmp_path)  # released by the failed start
    lock.acquire()
    lock.release()


def test_state_folder_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder under a file: exit 1 naming the folder and the option, no traceback."""
    (tmp_path / "a-file").write_text("")
    state = tmp_path / "a-file" / "state"
    assert main(["run", "--https-port", "0", "--state-dir", str(state)]) == 1
    out = capsys.readouterr().out
    assert f"failed to start: cannot use the state folder {state}: Not a directory" in out
    assert "--state-dir DIR" in out
