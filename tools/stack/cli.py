"""``python -m stack run | stop | check-config``: what ``make run`` and ``make config-check`` call.

``run`` stops the stack in order (replicas drain first) on Ctrl-C, SIGTERM or SIGHUP
(the terminal closed), and a stdout or stderr that can no longer be written (a
reader that went away, a terminal gone) never cuts that stop short. Its children
die with it however it dies; ``stop`` stops what an earlier run left running all
the same (``stack.leftovers``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from stack.check import run_checks
from stack.config import DEFAULT_HTTPS_PORT, MAX_REPLICAS, StackConfig
from stack.errors import LeftoverProcesses, PortsInUse, StackError, StateDirInUse
from stack.launcher import Stack
from stack.leftovers import RECORD_NAME, find_leftovers, stop_leftovers
from stack.output import DroppingOutput, Output
from stack.paths import REPO_ROOT, default_state_dir
from stack.processes import ManagedProcess
from stack.state_lock import StateLock

__all__ = ["main"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
#: Seconds between two looks at the children while the stack runs.
WATCH_INTERVAL: Final = 0.5
#: What stops the stack: Ctrl-C, ``kill``, and the terminal closing under it.
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds ``stop`` gives leftovers between SIGTERM and SIGKILL.
LEFTOVER_STOP_TIMEOUT: Final = 10.0


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (comments and blank lines skipped).

    Values are taken as written, with one pair of surrounding quotes removed, as
    the services' own reader (pydantic-settings) does for simple files.
    """
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or key.startswith("#"):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def service_environ(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The services' configuration: ``.env`` under the process environment.

    Empty values are dropped: the contract reads an empty variable as unset, and
    the audio service would reject one.
    """
    merged = {**dotenv, **environ}
    return {key: value for key, value in merged.items() if value != ""}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run Caddy, webhooks and audio replicas on loopback until Ctrl-C"
    )
    run.add_argument(
        "--audio-replicas",
        type=int,
        default=1,
        metavar="N",
        help=f"audio replicas, found by Caddy through DNS (1 to {MAX_REPLICAS}; default 1)",
    )
    run.add_argument(
        "--https-port", type=int, default=DEFAULT_HTTPS_PORT, help="Caddy's port (default 8443)"
    )
    for name, what in (
        ("webhooks", "the webhooks service"),
        ("audio", "every audio replica"),
    ):
        run.add_argument(
            f"--{name}-port", type=int, default=0, help=f"port of {what} (default: any free one)"
        )
    stop = commands.add_parser(
        "stop", help="stop the processes an earlier run left running (SIGTERM, then SIGKILL)"
    )
    for command in (run, stop):
        command.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="state folder (default: $STACK_STATE_DIR, else .stack/ in the repository)",
        )
    commands.add_parser(
        "check-config", help="caddy validate + fmt, docker compose config, hadolint"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return 0 if run_checks(sys.stdout) else EXIT_FAILED
    if args.command == "run" and not 1 <= args.audio_replicas <= MAX_REPLICAS:
        print(f"--audio-replicas must be 1 to {MAX_REPLICAS}", file=sys.stderr)
        return EXIT_USAGE
    state_dir = (args.state_dir or default_state_dir()).resolve()
    # Whatever cannot be written is dropped: a stop goes on without a reader.
    out, stderr = DroppingOutput(sys.stdout), sys.stderr
    sys.stderr = DroppingOutput(stderr)
    try:
        if args.command == "stop":
            return stop_left_over(state_dir, out)
        environ = service_environ(os.environ, read_dotenv(Path.cwd() / ".env"))
        config = StackConfig(
            state_dir=state_dir,
            audio_replicas=args.audio_replicas,
            https_port=args.https_port,
            webhooks_port=args.webhooks_port,
            audio_port=args.audio_port,
            environ=environ,
        )
        return run_stack(config, out)
    finally:
        sys.stderr = stderr


def run_stack(config: StackConfig, out: Output) -> int:
    """Start the stack, say what runs, wait for Ctrl-C, SIGTERM or SIGHUP, stop it all."""
    stop = threading.Event()
    stack = Stack(config)
    starting = True

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if starting:
            raise KeyboardInterrupt  # start() stops what it started, then re-raises
        if stop.is_set():
            print("second signal: killing what is left", file=out, flush=True)
            stack.hurry()
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        try:
            print(f"starting the local stack ({config.audio_replicas} audio)...", file=out)
            stack.start()
        except (PortsInUse, StateDirInUse, LeftoverProcesses) as exc:
            print(f"not started: {exc}", file=out)
            return EXIT_FAILED
        except StackError as exc:
            print(f"failed to start: {exc}", file=out)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("interrupted; everything started was stopped", file=out)
            return EXIT_INTERRUPTED
        starting = False
        print(describe(stack), file=out, flush=True)
        status = watch(stack, stop, out)
        print(stopping_message(stack.live_calls(), config.drain_timeout), file=out, flush=True)
        stack.stop()
        print("stopped", file=out)
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_left_over(state_dir: Path, out: Output) -> int:
    """``python -m stack stop``: stop what an earlier run on ``state_dir`` left running.

    Exit 0 when nothing of it runs any more; 1 when a launcher still runs on the
    folder (its stack is not left over: Ctrl-C stops it) or a process would not stop.
    """
    if not state_dir.is_dir():
        print(f"nothing to stop: {state_dir} does not exist", file=out)
        return 0
    lock = StateLock(state_dir)
    try:
        lock.acquire()  # no run starts on the folder while its leftovers are stopped
    except StateDirInUse as exc:
        running = f"the local stack on {state_dir} is running ({exc.holder})"
        print(f"not stopped: {running}; Ctrl-C in its terminal stops it", file=out)
        return EXIT_FAILED
    try:
        leftovers = find_leftovers(state_dir)
        if not leftovers:
            print(f"nothing to stop: no process of an earlier run on {state_dir} runs", file=out)
        left = stop_leftovers(leftovers, LEFTOVER_STOP_TIMEOUT, lambda line: print(line, file=out))
        if left:
            return EXIT_FAILED
        (state_dir / RECORD_NAME).unlink(missing_ok=True)
        return 0
    finally:
        lock.release()


def stopping_message(live_calls: Mapping[str, int], drain_timeout: float) -> str:
    """What a stop is going to wait for: the calls that drain, and for how long at most."""
    total = sum(live_calls.values())
    if not total:
        return "stopping: no live calls; audio replicas, then webhooks and Caddy..."
    where = ", ".join(f"{name}: {n}" for name, n in sorted(live_calls.items()) if n)
    calls = "1 live call" if total == 1 else f"{total} live calls"
    return (
        f"stopping: draining {calls} ({where}) for at most {drain_timeout:g} s"
        " (DRAIN_TIMEOUT), then closing what is left with 1001; Ctrl-C again to kill now..."
    )


def watch(stack: Stack, stop: threading.Event, out: Output) -> int:
    """Until ``stop``: report a replica that exits; give up if webhooks or Caddy do."""
    reported: set[str] = set()
    while not stop.wait(WATCH_INTERVAL):
        for process in (stack.webhooks, stack.caddy):
            if process is not None and not process.alive:
                print(f"{process.exit_report()}\nstopping the rest", file=out, flush=True)
                return EXIT_FAILED
        for replica in stack.replicas:
            if not replica.process.alive and replica.name not in reported:
                reported.add(replica.name)
                print(replica.process.exit_report(), file=out, flush=True)
    return 0


def describe(stack: Stack) -> str:
    """What runs where, and how to place a call."""
    root = _short(stack.paths.root)
    secrets = stack.secrets
    origin = (
        "generated for this run: " + ", ".join(sorted(secrets.generated))
        if secrets.generated
        else "from your environment"
    )
    make_call = "make call"
    if stack.public_host != f"localhost:{DEFAULT_HTTPS_PORT}":
        make_call += f" BASE_URL={stack.base_url}"
    # The simulator finds secrets.env and the CA in .stack/ unless told otherwise.
    simulator_env = ""
    if stack.paths.root != REPO_ROOT / ".stack":
        simulator_env = f"STACK_STATE_DIR={shlex.quote(str(stack.paths.root))} "
    lines = [
        f"The local stack is running at {stack.base_url}",
        f"  caddy       pid {_pid(stack.caddy):<7} {stack.base_url}  (/webhooks/*, /socket)",
        f"              admin API on unix socket {_short(stack.admin.socket)} (this user only)",
        f"  webhooks    pid {_pid(stack.webhooks):<7} {stack.webhooks_url}",
        f"  voice-api   pid {_pid(stack.voice_api):<7} https://{stack.voice_api_host}"
        "  (the simulator's Voice REST API: hangup, transfer, talk, dtmf, calls)",
    ]
    # A replica's address is no URL to open: calls reach it as WebSockets through Caddy,
    # and only its /healthz and /metrics answer plain HTTP there.
    lines += [
        f"  {r.name:<11} pid {r.pid:<7} {r.address}:{r.port}  (ws, behind Caddy)"
        for r in stack.replicas
    ]
    lines += [
        f"              handler {stack.handler} (AUDIO_HANDLER); /healthz and /metrics on each",
        f"  dns         udp {stack.dns_address}: {stack.config.replica_name} -> "
        + ", ".join(stack.listed_addresses()),
        f"Local CA root (trusted by nothing but the simulator): {_short(stack.cafile)}",
        f"Secrets ({origin}): {root}/secrets.env",
        f"Vonage application (local, no account): {root}/voice-api/ (key pair, CA, api.env)",
        f"Logs: {root}/logs/",
        "",
        "Place a simulated call from another terminal:",
        f"  {simulator_env}{make_call}",
        f"  {simulator_env}.venv/bin/python -m simulator call {stack.base_url}",
        "Ctrl-C stops everything (audio replicas drain first; a second Ctrl-C kills).",
    ]
    return "\n".join(lines)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _pid(process: ManagedProcess | None) -> str:
    return str(process.pid) if process is not None and process.started else "-"
