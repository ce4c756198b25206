"""Where audio_socket's CPU goes: py-spy on the server during one extra load run.

The profiled run is not one of the measured rounds (to read native stacks
py-spy pauses the server 250 times a second, which costs it time and delays
frames): it repeats the largest direct run, attaches ``py-spy record --native``
once every call is connected and detaches before the first call ends (audio
frames only, no handshakes), and sorts every sample in which the process was
busy by the function it was in at the time:

* ``send()``: the ``write`` system call, one per echoed frame;
* ``recv()``: the ``read`` system call;
* Python: a line of Python (ours, websockets', the handler), including the C
  functions it calls that have no native frame of their own (``apply_mask``,
  the bytes concatenation of a frame's header and payload);
* the event loop's own C code (uvloop, libuv, CPython's call machinery).

Samples sitting in ``epoll_wait`` are the process waiting for work, not work:
they are counted apart.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.load import LoadPlan, run_load
from bench.procs import Process, Processes
from bench.runs import start_stub
from bench.servers import ServerKind, start_server

RATE: Final = 250  # samples per second
ATTACH_TIMEOUT: Final = 60.0  # after the ramp, for every call to be connected
#: Leaf functions (libc) that are the system calls of a frame.
SEND: Final = ("write", "writev", "send", "sendmsg")
RECV: Final = ("read", "readv", "recv", "recvmsg")
WAIT: Final = ("epoll_wait", "epoll_pwait", "epoll_pwait2")
CATEGORIES: Final = ("send()", "recv()", "Python", "event loop (C)")


@dataclass
class Profile:
    """Busy samples by category, and the Python lines most often on top."""

    calls: int = 0
    samples: int = 0
    waiting: int = 0
    busy: dict[str, int] = field(default_factory=dict)
    top_python: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None

    @property
    def busy_samples(self) -> int:
        """Samples in which the process was doing something."""
        return sum(self.busy.values())


def py_spy() -> str | None:
    """The py-spy program next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def classify(raw: str, top: int = 8) -> Profile:
    """Sort py-spy's ``--format raw`` output (``frame;frame;... count`` per line)."""
    profile = Profile()
    busy: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        profile.samples += n
        leaf = stack.rsplit(";", 1)[-1]
        name = leaf.split(" (", 1)[0]
        if name in WAIT:
            profile.waiting += n
        elif name in SEND and "(libc" in leaf:
            busy["send()"] += n
        elif name in RECV and "(libc" in leaf:
            busy["recv()"] += n
        elif ".py:" in leaf:
            busy["Python"] += n
            lines[leaf] += n
        else:
            busy["event loop (C)"] += n
    profile.busy = {c: busy[c] for c in CATEGORIES}
    profile.top_python = lines.most_common(top)
    return profile


def profile_audio_socket(
    procs: Processes, plan: LoadPlan, server_cpus: set[int], out: Path
) -> Profile:
    """One load run of ``plan`` against a fresh audio_socket, py-spy attached once every
    call is connected, until the first call ends: frames only, no handshakes."""
    program = py_spy()
    if program is None:
        return Profile(plan.calls, error="py-spy is not installed (the dev extra has it)")
    started = len(procs.started)
    spies: list[Process] = []
    try:
        server = start_server(procs, ServerKind.AUDIO_SOCKET, server_cpus)
        base_url, stub = start_stub(procs, server.socket_uri, server, plan.cpus)
        baseline = server.process.usage().sockets
        steady = max(1.0, plan.seconds - plan.ramp - 1.0)
        argv = [
            program, "record", "--pid", str(server.process.pid), "--native",
            "--rate", str(RATE), "--duration", f"{steady:.0f}",
            "--format", "raw", "--output", str(out), "--idle",
        ]  # fmt: skip

        def attach() -> None:
            deadline = time.monotonic() + plan.ramp + ATTACH_TIMEOUT
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    if server.process.usage().sockets - baseline >= plan.calls:
                        spies.append(procs.start("py-spy", argv, cpus=plan.cpus))
                        return
                time.sleep(0.05)

        watcher = threading.Thread(target=attach, name="py-spy attach", daemon=True)
        watcher.start()
        run_load(procs, base_url, plan, {"server": server.process, "stub": stub})
        watcher.join()
        if not spies:
            return Profile(plan.calls, error="the calls never were all connected")
        status = spies[0].popen.wait(timeout=steady + 30)
    finally:
        for process in reversed(procs.started[started:]):
            procs.stop(process)
    if status != 0 or not out.is_file():
        return Profile(plan.calls, error=f"py-spy exited {status}: {spies[0].log_tail()}")
    profile = classify(out.read_text())
    profile.calls = plan.calls
    return profile
