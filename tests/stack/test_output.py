"""``tools/stack/output.py``: output nobody reads any more is dropped, never raised."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

from stack.output import DroppingOutput


def test_text_is_passed_on_while_the_stream_takes_it() -> None:
    """A working stream gets every write."""
    stream = io.StringIO()
    out = DroppingOutput(stream)
    print("stopping", file=out, flush=True)
    assert stream.getvalue() == "stopping\n"
    assert not out.broken


def test_a_closed_pipe_drops_the_rest_and_exits_cleanly() -> None:
    """After the reader is gone: no BrokenPipeError, nor one at exit (status 0, not 120)."""
    script = textwrap.dedent(
        """
        import os, sys
        from stack.output import DroppingOutput
        out = DroppingOutput(sys.stdout)
        print("first", file=out, flush=True)
        sys.stdin.readline()  # the reader has gone by now
        for _ in range(3):
            print("x" * 100_000, file=out, flush=True)
        print("the stop went on", file=sys.stderr)
        """
    )
    read, write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=write,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        assert reader.readline() == b"first\n"
    _, errors = child.communicate("go\n", timeout=10.0)
    assert child.returncode == 0, errors
    assert errors == "the stop went on\n"
