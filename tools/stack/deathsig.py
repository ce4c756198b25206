"""Run a program that dies with the launcher: ``python -I -S deathsig.py PARENT LC PROGRAM...``.

The launcher starts each child of the stack through this script (run by path, with
the standard library only, so it costs ~15 ms and no import of the stack). It asks
the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``), checks that the
parent is still the launcher, then replaces itself with ``PROGRAM``: same pid,
same command line as ``PROGRAM`` alone, and the death signal survives the exec.
``LC`` is the child's ``LC_CTYPE`` ("" when unset), given back to it: Python sets
``LC_CTYPE=C.UTF-8`` in its own environment when it starts in the C locale (PEP 538),
and Caddy's environment is built with no locale at all.

Doing this here rather than in ``subprocess.Popen(preexec_fn=...)`` keeps Python
code out of the window between fork and exec, which is unsafe in a process with
threads (the launcher has the DNS responder's, tests have many), and lets
subprocess keep its vfork fast path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Final

PR_SET_PDEATHSIG: Final = 1
#: SIGKILL, not SIGTERM: a launcher that dies without stopping its stack leaves no
#: one to order the stop, and Caddy and the DNS responder go with it, so a replica
#: draining on SIGTERM would hold its calls (and its port) up to DRAIN_TIMEOUT for
#: nothing. An orderly stop is the launcher's own (SIGINT, SIGTERM, SIGHUP).
DEATH_SIGNAL: Final = signal.SIGKILL
#: Exit status when the launcher was gone before the death signal was set.
EXIT_ORPHANED: Final = 125
EXIT_FAILED: Final = 126


def main(argv: list[str]) -> None:
    """Set the death signal, check the parent, exec the program; exit only on failure."""
    parent, lc_ctype, program = int(argv[1]), argv[2], argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0) != 0:
        print(f"prctl(PR_SET_PDEATHSIG): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    # The launcher may have died between the fork and the prctl: then no signal
    # will ever come, and this process is already someone else's child.
    if os.getppid() != parent:
        sys.exit(EXIT_ORPHANED)
    env = dict(os.environ)
    env.pop("LC_CTYPE", None)
    if lc_ctype:
        env["LC_CTYPE"] = lc_ctype
    # Looked up on the child's PATH, as subprocess would have.
    os.execvpe(program[0], program, env)  # noqa: S606 (the program as the launcher gave it)


if __name__ == "__main__":
    main(sys.argv)
