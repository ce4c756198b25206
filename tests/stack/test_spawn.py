"""``tools/stack/spawn.py`` and ``deathsig.py``: a child dies with its launcher, and
only then; one orphaned before it could ask for that never runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stack.processes import wait_until
from stack.spawn import DEATHSIG_SCRIPT, guarded_argv

TIMEOUT = 10.0
#: What the brief promises for a launcher killed with SIGKILL.
CHILD_GONE = 5.0

#: A launcher in miniature: it starts `sleep` from a worker thread that then exits,
#: and says the child's pid once that thread is gone.
LAUNCHER = textwrap.dedent(
    """
    import os, sys, threading, time
    from pathlib import Path
    from stack.spawn import spawn

    children = []
    def start():
        with open(os.devnull, "wb") as log:
            children.append(spawn(["sleep", "300"], dict(os.environ), Path.cwd(), log))
    worker = threading.Thread(target=start)
    worker.start()
    worker.join()
    print(children[0].pid, flush=True)
    time.sleep(300)
    """
)


def runs(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def test_child_outlives_the_thread_that_asked_and_dies_with_the_launcher(
    tmp_path: Path,
) -> None:
    """A worker thread's exit spares the child; SIGKILL to the launcher does not."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert launcher.stdout is not None
        child = int(launcher.stdout.readline())
        cmdline = Path(f"/proc/{child}/cmdline")
        # Through deathsig.py, then the program itself under the same pid.
        wait_until(lambda: cmdline.read_bytes() == b"sleep\x00300\x00", "the exec", TIMEOUT)
        assert runs(child)
        launcher.kill()
        wait_until(lambda: not runs(child), "the child's death", CHILD_GONE)
    finally:
        launcher.kill()
        launcher.communicate()


def test_a_child_orphaned_before_prctl_exits_without_running_the_program(
    tmp_path: Path,
) -> None:
    """Its parent is not the launcher it was started for: exit 125, nothing run."""
    marker = tmp_path / "ran"
    argv = [sys.executable, "-I", "-S", str(DEATHSIG_SCRIPT), "1", "", "touch", str(marker)]
    assert subprocess.run(argv, check=False, timeout=TIMEOUT).returncode == 125
    assert not marker.exists()


@pytest.mark.parametrize("lc_ctype", ["", "en_GB.UTF-8"])
def test_the_program_gets_the_environment_it_was_given(lc_ctype: str) -> None:
    """Python's own locale coercion in the guard does not reach the program."""
    env = {"PATH": os.environ["PATH"], "GIVEN": "yes"}
    if lc_ctype:
        env["LC_CTYPE"] = lc_ctype
    argv = guarded_argv(["env"], env)
    argv[4] = str(os.getpid())  # the parent is this process
    shown = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert sorted(shown.splitlines()) == sorted(f"{k}={v}" for k, v in env.items())
