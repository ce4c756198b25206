"""The simulator's command line: ``python -m simulator call|load|converse|callee|phone|api``.

It only parses and dispatches: each command is a front end of its own
(``frontends/``, ``rest_api/main.py``), and every failure ends in one line on
stderr and a non-zero status, never a traceback (``setup.py`` says which).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from simulator.errors import SimulatorError
from simulator.frontends.call import call_main
from simulator.frontends.callee import callee_main
from simulator.reports.call_report import ECHO, EXPECTATIONS
from simulator.setup import EXIT_FAILED, fail
from simulator.vonage.records import DEFAULT_REGION_URL
from simulator.vonage.signing import DEFAULT_API_KEY, DEFAULT_APPLICATION_ID
from simulator.vonage.webhook import Timeouts

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE
#: What ``add_subparsers`` returns: each command is added to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="A local Vonage: place calls through the stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_call(commands, common)
    _add_load(commands, common)
    _add_callee(commands, common)
    _add_phone(commands, common)
    _add_converse(commands, common)
    _add_api(commands)
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every command that places calls takes."""
    common = argparse.ArgumentParser(add_help=False)
    _add_target_options(common)
    _add_webhook_options(common)
    _add_caller_options(common)
    _add_outcome_options(common)
    return common


def _add_target_options(common: argparse.ArgumentParser) -> None:
    """Where the calls go, with what audio, signed how."""
    common.add_argument("base_url", metavar="BASE_URL", help="e.g. https://localhost:8443")
    common.add_argument(
        "--seconds", type=float, help="audio per call (default: 10, or the WAV's length)"
    )
    common.add_argument(
        "--wav", type=Path, help="the caller's audio (any WAV; looped to --seconds)"
    )
    common.add_argument(
        "--get",
        action="store_true",
        help="send the answer and events by GET (query string) instead of POST (JSON body);"
        " a verifying service refuses GET unless WEBHOOKS_ALLOW_GET=true",
    )
    # Never the secret itself on the command line, where `ps` shows it to every user.
    common.add_argument(
        "--secret-file",
        type=Path,
        help="file holding the signature secret, or KEY=VALUE lines with"
        " VONAGE_SIGNATURE_SECRET (default: $VONAGE_SIGNATURE_SECRET, else .stack/secrets.env)",
    )
    common.add_argument("--unsigned", action="store_true", help="send webhooks unsigned")
    common.add_argument(
        "--cafile", type=Path, help="extra trusted root (default: the local stack's CA, when found)"
    )


def _add_webhook_options(common: argparse.ArgumentParser) -> None:
    """Vonage's webhook timeouts and the fallback URL."""
    vonage = Timeouts()
    common.add_argument(
        "--connect-timeout",
        type=float,
        default=vonage.connect,
        help=f"seconds to connect to a webhook (Vonage's default {vonage.connect:g}, 0.3-1)",
    )
    common.add_argument(
        "--answer-timeout",
        type=float,
        default=vonage.answer,
        help=f"seconds to wait for the NCCO (Vonage's default {vonage.answer:g}, 1-5)",
    )
    common.add_argument(
        "--event-timeout",
        type=float,
        default=vonage.event,
        help=f"seconds to wait for an event's answer (Vonage's default {vonage.event:g}, 1-10)",
    )
    common.add_argument(
        "--fallback-url", help="the application's fallback_answer_url (default: none)"
    )


def _add_caller_options(common: argparse.ArgumentParser) -> None:
    """What the answer request says about the call, and how long a talk takes."""
    common.add_argument(
        "--instant-talk",
        action="store_true",
        help="talk takes no time (default: it speaks at 150 words a minute, as a caller hears it)",
    )
    common.add_argument(
        "--region-url", default=DEFAULT_REGION_URL, help="region_url of the answer request"
    )
    common.add_argument(
        "--from-user", help="place the call from this Client SDK user (an app call), not a phone"
    )
    common.add_argument(
        "--custom-data", type=json_object, help="custom_data of an app call (a JSON object)"
    )
    common.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="api_key claim of signed webhooks"
    )
    common.add_argument(
        "--application-id", default=DEFAULT_APPLICATION_ID, help="application_id claim"
    )


def _add_outcome_options(common: argparse.ArgumentParser) -> None:
    """What a call should sound like, the report's form, and the REST API."""
    common.add_argument(
        "--expect",
        choices=EXPECTATIONS,
        default=ECHO,
        help="what a call should sound like: the caller's own audio back byte-exact"
        " (echo, the default), any audio (a prompt or a bot), or silence;"
        " the verdict and the exit status follow it",
    )
    common.add_argument("--json", action="store_true", help="print the report as one JSON object")
    common.add_argument(
        "--no-api",
        action="store_true",
        help="do not serve the calls' REST requests (default: through the local stack's API)",
    )
    common.add_argument(
        "--api-delay",
        type=float,
        default=0.0,
        help="seconds the REST API holds back each answer about these calls (a slow Vonage)",
    )


def _add_call(commands: Commands, common: argparse.ArgumentParser) -> None:
    # No abbreviations: `--secret VALUE` must not pass for `--secret-file`.
    call = commands.add_parser("call", parents=[common], help="place one call", allow_abbrev=False)
    call.add_argument("--dtmf", default="", help="key presses sent along the way, e.g. 123#")
    call.add_argument(
        "--lenient-frames",
        action="store_true",
        help="count binary messages that are not one 20 ms frame instead of closing the"
        " socket with 1007, as Vonage does",
    )
    call.add_argument(
        "--drop-notify",
        action="store_true",
        help="never answer the server's notify (one report saw Vonage do so)",
    )
    call.add_argument(
        "--out",
        type=Path,
        help="write what the caller heard to this WAV, at its real time from the answer",
    )


def _add_load(commands: Commands, common: argparse.ArgumentParser) -> None:
    load = commands.add_parser(
        "load", parents=[common], help="place many calls at once", allow_abbrev=False
    )
    load.add_argument("--calls", type=int, required=True, help="concurrent calls")
    load.add_argument("--ramp", type=float, default=0.0, help="seconds over which calls start")
    load.add_argument("--workers", type=int, default=1, help="processes to spread the calls over")
    load.add_argument(
        "--lenient-frames",
        action="store_true",
        help="count binary messages that are not one 20 ms frame instead of closing the"
        " socket with 1007, as Vonage does",
    )
    load.add_argument(
        "--drop-notify",
        action="store_true",
        help="never answer the server's notify (one report saw Vonage do so)",
    )
    load.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the workers' event loop (default auto: uvloop when installed, it sends on"
        " schedule at about twice the calls per core)",
    )
    load.add_argument(
        "--plot",
        type=Path,
        help="draw the round trips to this PNG (needs matplotlib: `make setup`)",
    )


def _add_callee(commands: Commands, common: argparse.ArgumentParser) -> None:
    callee = commands.add_parser(
        "callee",
        parents=[common],
        help="answer the outbound calls the application places (python -m webhooks dial)",
    )
    callee.add_argument("--calls", type=int, default=1, help="outbound calls to answer, then exit")


def _add_phone(commands: Commands, common: argparse.ArgumentParser) -> None:
    phone = commands.add_parser(
        "phone",
        parents=[common],
        help="a softphone in the browser: call the stack with your microphone and hear it",
        allow_abbrev=False,
    )
    phone.add_argument("--host", default="127.0.0.1", help="the page's address (loopback only)")
    phone.add_argument("--port", type=int, default=8089, help="the page's port (0: any free one)")


def _add_converse(commands: Commands, common: argparse.ArgumentParser) -> None:
    converse = commands.add_parser(
        "converse",
        parents=[common],
        help="a scripted caller: speaks, listens, interrupts, measures each turn at the ear",
        allow_abbrev=False,
    )
    converse.add_argument(
        "--script", type=Path, required=True, help="the YAML turns (docs/simulator.md, Converse)"
    )
    converse.add_argument(
        "--turn-gap",
        type=float,
        default=1.0,
        help="seconds of quiet that end a reply before the caller's next turn (default 1)",
    )
    converse.add_argument(
        "--audible-dbfs",
        type=float,
        default=-50.0,
        help="a frame is audible above this RMS level, for these measurements (default -50)",
    )
    converse.add_argument("--calls", type=int, default=1, help="scripted callers at once")
    converse.add_argument("--workers", type=int, default=1, help="processes to spread them over")
    converse.add_argument("--ramp", type=float, default=0.0, help="seconds over which calls start")
    converse.add_argument(
        "--transcribe", action="store_true", help="transcribe every reply (`make setup`)"
    )
    converse.add_argument(
        "--speech-cache",
        type=Path,
        help="where spoken texts are kept (default: $XDG_CACHE_HOME/simulator/speech)",
    )
    converse.add_argument("--answer-url", help="the answer URL (default: URL/webhooks/answer)")
    converse.add_argument("--event-url", help="the event URL (default: URL/webhooks/events)")
    converse.add_argument("--out", type=Path, help="write what the caller heard to this WAV")


def _add_api(commands: Commands) -> None:
    api = commands.add_parser(
        "api",
        help="serve Vonage's Voice REST API for the simulator's calls (the local stack runs it)",
        description="The link token is read from $SIMULATOR_API_TOKEN, never from argv.",
    )
    api.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    api.add_argument("--port", type=int, default=0, help="listen port (0: any free one)")
    api.add_argument("--application-id", required=True, help="the application's id")
    api.add_argument("--public-key", type=Path, required=True, help="its public key (PEM)")
    api.add_argument("--certfile", type=Path, required=True, help="TLS certificate chain")
    api.add_argument("--keyfile", type=Path, required=True, help="TLS private key")


def json_object(text: str) -> dict[str, Any]:
    """An option's value read as a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "call":
        return asyncio.run(call_main(args))
    if args.command == "callee":
        return asyncio.run(callee_main(args))
    if args.command == "phone":
        from simulator.frontends.phone.main import phone_main  # noqa: PLC0415

        return asyncio.run(phone_main(args))
    if args.command == "api":
        from simulator.rest_api.main import api_main  # noqa: PLC0415 (uvicorn: api only)

        try:
            return api_main(args)
        except SimulatorError as exc:
            return fail(exc)
    if args.command == "converse":
        from simulator.frontends.converse.main import converse_main as run  # noqa: PLC0415
    else:
        from simulator.frontends.load import load_main as run  # noqa: PLC0415 (rich, matplotlib)

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _run_command(args)
    except KeyboardInterrupt:
        print("simulator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of the call. Point stdout at
        # /dev/null so that the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # the promise: one line, never a traceback
        print(f"simulator: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
