"""``python -m simulator call|load BASE_URL``: the command line.

Every failure ends in one line on stderr and a non-zero status, never a
traceback: 1 when a call failed or lost audio, 2 for bad options or input,
3 when a load run's own sending slipped (its figures measure the simulator).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from simulator.audio import FRAMES_PER_SECOND, Pcm, read_wav, write_wav
from simulator.call import (
    DEFAULT_REGION_URL,
    DTMF_DIGITS,
    Call,
    CallContext,
    CallOptions,
    CallRecord,
    SignalCache,
)
from simulator.dialer import Dialer
from simulator.errors import SimulatorError, UsageError
from simulator.heard import heard_samples
from simulator.local_stack import (
    ApiSettings,
    default_api,
    default_cafile,
    default_secret,
    read_secret_file,
)
from simulator.ncco import MAX_LIMIT_SECONDS
from simulator.net import client_ssl_context
from simulator.pacer import Pacer
from simulator.report import ECHO, EXPECTATIONS, CallReport, build_report, render
from simulator.rest_link import ApiLink
from simulator.signing import DEFAULT_API_KEY, DEFAULT_APPLICATION_ID, Signer
from simulator.webhook import Timeouts, WebhookClient

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE
DEFAULT_SECONDS = 10.0
MAX_API_DELAY = 60.0


def build_parser() -> argparse.ArgumentParser:
    """The ``call`` and ``load`` commands and their options."""
    common = argparse.ArgumentParser(add_help=False)
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

    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="A local Vonage: place calls through the stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # No abbreviations: `--secret VALUE` must not pass for `--secret-file`.
    call = commands.add_parser("call", parents=[common], help="place one call", allow_abbrev=False)
    call.add_argument("--dtmf", default="", help="key presses sent along the way, e.g. 123#")
    call.add_argument(
        "--out",
        type=Path,
        help="write what the caller heard to this WAV, at its real time from the answer",
    )
    load = commands.add_parser(
        "load", parents=[common], help="place many calls at once", allow_abbrev=False
    )
    load.add_argument("--calls", type=int, required=True, help="concurrent calls")
    load.add_argument("--ramp", type=float, default=0.0, help="seconds over which calls start")
    load.add_argument("--workers", type=int, default=1, help="processes to spread the calls over")
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
    callee = commands.add_parser(
        "callee",
        parents=[common],
        help="answer the outbound calls the application places (python -m webhooks dial)",
    )
    callee.add_argument("--calls", type=int, default=1, help="outbound calls to answer, then exit")
    phone = commands.add_parser(
        "phone",
        parents=[common],
        help="a softphone in the browser: call the stack with your microphone and hear it",
        allow_abbrev=False,
    )
    phone.add_argument("--host", default="127.0.0.1", help="the page's address (loopback only)")
    phone.add_argument("--port", type=int, default=8089, help="the page's port (0: any free one)")
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
    return parser


def json_object(text: str) -> dict[str, Any]:
    """An option's value read as a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


@dataclass(frozen=True)
class Setup:
    """What the options resolve to, checked."""

    base_url: str
    seconds: float
    wav: Pcm | None
    secret: str | None
    cafile: Path | None
    timeouts: Timeouts
    api_key: str
    application_id: str
    get: bool
    fallback_url: str | None = None
    instant_talk: bool = False
    region_url: str = DEFAULT_REGION_URL
    from_user: str | None = None
    custom_data: dict[str, Any] | None = None
    #: What each call should sound like (``report.build_report``).
    expect: str = ECHO
    #: The Voice REST API the calls' REST requests come through, if any.
    api: ApiSettings | None = None
    api_delay: float = 0.0

    def signer(self) -> Signer | None:
        """The webhook signer, or None when sending unsigned."""
        if self.secret is None:
            return None
        return Signer(self.secret, self.api_key, self.application_id)

    def call_options(self, **extra: Any) -> CallOptions:
        """The options of one call placed with this set-up."""
        return CallOptions(
            self.base_url,
            self.seconds,
            post=not self.get,
            instant_talk=self.instant_talk,
            fallback_url=self.fallback_url,
            region_url=self.region_url,
            from_user=self.from_user,
            custom_data=self.custom_data,
            **extra,
        )


def resolve(args: argparse.Namespace) -> Setup:
    """Check the options and find the defaults (secret, CA, duration)."""
    url = urlsplit(args.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"BASE_URL must be an http(s) URL, not {args.base_url!r}")
    wav = read_wav(args.wav) if args.wav else None
    seconds = args.seconds
    if seconds is None:
        seconds = wav.seconds if wav else DEFAULT_SECONDS
    if not 1 / FRAMES_PER_SECOND <= seconds <= MAX_LIMIT_SECONDS:  # Vonage's connect limit
        raise UsageError(f"--seconds must be between 0.02 and {MAX_LIMIT_SECONDS}")
    timeouts = Timeouts(args.connect_timeout, args.answer_timeout, args.event_timeout)
    for name in ("connect", "answer", "event"):
        if getattr(timeouts, name) <= 0:
            raise UsageError(f"--{name}-timeout must be positive")
    for problem in timeouts.outside_vonage():
        print(f"simulator: note: {problem}: Vonage would not accept it", file=sys.stderr)
    for option, value in (("--fallback-url", args.fallback_url), ("--region-url", args.region_url)):
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise UsageError(f"{option} must be an http(s) URL, not {value!r}")
    if args.custom_data is not None and args.from_user is None:
        raise UsageError("--custom-data comes with an app call: give --from-user too")
    secret = None
    if not args.unsigned:
        secret = read_secret_file(args.secret_file) if args.secret_file else default_secret()
    if secret is None and not args.unsigned:
        raise UsageError(
            "no signature secret: set VONAGE_SIGNATURE_SECRET, pass --secret-file, start the"
            " local stack (its .stack/secrets.env), or send --unsigned"
        )
    cafile = args.cafile or default_cafile()
    if args.cafile is not None and not args.cafile.is_file():
        raise UsageError(f"--cafile {args.cafile} does not exist")
    return Setup(
        base_url=args.base_url,
        seconds=seconds,
        wav=wav,
        secret=secret,
        cafile=cafile,
        timeouts=timeouts,
        api_key=args.api_key,
        application_id=args.application_id,
        get=args.get,
        fallback_url=args.fallback_url,
        instant_talk=args.instant_talk,
        region_url=args.region_url,
        from_user=args.from_user,
        custom_data=args.custom_data,
        expect=args.expect,
        api=None if args.no_api else default_api(),
        api_delay=_api_delay(args.api_delay),
    )


def _api_delay(seconds: float) -> float:
    if not 0 <= seconds <= MAX_API_DELAY:
        raise UsageError(f"--api-delay must be between 0 and {MAX_API_DELAY:g} seconds")
    return seconds


async def open_api_link(setup: Setup) -> ApiLink | None:
    """The link to the local stack's Voice REST API, when there is one."""
    if setup.api is None:
        return None
    context = client_ssl_context(setup.api.cafile)
    link = ApiLink(setup.api.url, setup.api.token, context, setup.api_delay)
    try:
        await link.open()
    except SimulatorError as exc:
        # A stack stopped uncleanly can leave its api.env behind: the calls still run,
        # and any REST request about them gets 404.
        print(
            f"simulator: warning: {exc}; REST requests about these calls get 404",
            file=sys.stderr,
        )
        return None
    return link


async def call_command(args: argparse.Namespace) -> int:
    """``call``: one call, its report, its WAV."""
    setup = resolve(args)
    if set(args.dtmf) - DTMF_DIGITS:
        raise UsageError(f"--dtmf takes 0-9, * and #, not {args.dtmf!r}")
    webhooks = WebhookClient(client_ssl_context(setup.cafile), setup.signer(), setup.timeouts)
    pacer = Pacer()
    # Progress goes where the report goes, so that it reads in order however the two
    # streams are shown; with --json, stdout is the JSON object alone.
    progress = sys.stderr if args.json else sys.stdout
    link = await open_api_link(setup)
    context = CallContext(
        webhooks,
        pacer,
        SignalCache(setup.seconds, setup.wav),
        setup.signer(),
        say=functools.partial(_say, progress),
        api_link=link,
    )
    options = setup.call_options(dtmf=args.dtmf, keep_audio=args.out is not None)
    try:
        record = await Call(options, context).run()
    finally:
        await pacer.close()
        await webhooks.aclose()
        if link is not None:
            await link.close()
    report = build_report(record, setup.expect)
    if args.out is not None and record.audio is not None:
        heard = heard_samples(
            record.audio.playout, record.audio.rate, record.started_at, record.ended_at
        )
        write_wav(args.out, record.audio.rate, [heard.tobytes()])
    print(json.dumps(report.as_dict()) if args.json else render(report))
    if report.error:
        print(f"simulator: {report.error}", file=sys.stderr)
    return EXIT_OK if report.passed else EXIT_FAILED


async def callee_main(args: argparse.Namespace) -> int:
    """``callee``: be the phone the application dials; one report per call."""
    try:
        return await callee_command(args)
    except SimulatorError as exc:
        return fail(exc)


async def callee_command(args: argparse.Namespace) -> int:
    """Serve as the dialer of the local stack's REST API until ``--calls`` have ended."""
    setup = resolve(args)
    if args.calls < 1:
        raise UsageError("--calls must be at least 1")
    link = await open_api_link(setup)
    if link is None:
        raise UsageError("callee needs the local stack's Voice REST API: start `make run` first")
    webhooks = WebhookClient(client_ssl_context(setup.cafile), setup.signer(), setup.timeouts)
    pacer = Pacer()
    progress = sys.stderr if args.json else sys.stdout
    say = functools.partial(_say, progress)
    context = CallContext(
        webhooks, pacer, SignalCache(setup.seconds, setup.wav), setup.signer(), say, link
    )
    reports: list[CallReport] = []
    done = asyncio.Event()

    def on_record(record: CallRecord) -> None:
        report = build_report(record)
        reports.append(report)
        print(json.dumps(report.as_dict()) if args.json else render(report), flush=True)
        if len(reports) >= args.calls:
            done.set()

    try:
        await link.serve_dialer(Dialer(context, setup.call_options(), on_record))
        say(f"waiting for {args.calls} outbound call(s): python -m webhooks dial NUMBER")
        await done.wait()
    finally:
        await pacer.close()
        await webhooks.aclose()
        await link.close()
    return EXIT_OK if all(report.passed for report in reports) else EXIT_FAILED


def _say(stream: TextIO, line: str) -> None:
    print(f"  {line}", file=stream, flush=True)


async def call_main(args: argparse.Namespace) -> int:
    """``call`` with its failures turned into one line and a status."""
    try:
        return await call_command(args)
    except SimulatorError as exc:
        return fail(exc)


def load_main(args: argparse.Namespace) -> int:
    """``load`` with its failures turned into one line and a status."""
    from simulator.load import load_command  # noqa: PLC0415 (rich and matplotlib: load only)

    try:
        return load_command(args, resolve(args))
    except SimulatorError as exc:
        return fail(exc)


def fail(exc: SimulatorError) -> int:
    """Print a failure as one line; its exit status."""
    if isinstance(exc, UsageError):
        print(f"simulator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"simulator: {exc}", file=sys.stderr)
    return EXIT_FAILED


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "call":
        return asyncio.run(call_main(args))
    if args.command == "callee":
        return asyncio.run(callee_main(args))
    if args.command == "phone":
        from simulator.phone_main import phone_main  # noqa: PLC0415

        return asyncio.run(phone_main(args))
    if args.command == "api":
        from simulator.api_main import api_main  # noqa: PLC0415 (uvicorn: api only)

        try:
            return api_main(args)
        except SimulatorError as exc:
            return fail(exc)
    return load_main(args)


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
