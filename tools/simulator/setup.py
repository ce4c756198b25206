"""What the front ends share: the options resolved and checked, the REST link, one-line failures.

Every failure ends in one line on stderr and a non-zero status, never a
traceback: 1 when a call failed or lost audio, 2 for bad options or input
(3, a load run's own sending slipped, is ``frontends/load.py``'s).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from simulator.audio import FRAMES_PER_SECOND, Pcm, read_wav
from simulator.errors import SimulatorError, UsageError
from simulator.local_stack import (
    ApiSettings,
    default_api,
    default_cafile,
    default_secret,
    read_secret_file,
)
from simulator.net import client_ssl_context
from simulator.reports.call_report import ECHO
from simulator.rest_api.link import ApiLink
from simulator.vonage.ncco import MAX_LIMIT_SECONDS
from simulator.vonage.records import DEFAULT_REGION_URL, CallOptions
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import Timeouts

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_SECONDS = 10.0
MAX_API_DELAY = 60.0


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
    #: What each call should sound like (``reports/call_report.build_report``).
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
    timeouts = _timeouts(args)
    _check_urls(args)
    secret = _secret(args)
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


def _timeouts(args: argparse.Namespace) -> Timeouts:
    timeouts = Timeouts(args.connect_timeout, args.answer_timeout, args.event_timeout)
    for name in ("connect", "answer", "event"):
        if getattr(timeouts, name) <= 0:
            raise UsageError(f"--{name}-timeout must be positive")
    for problem in timeouts.outside_vonage():
        print(f"simulator: note: {problem}: Vonage would not accept it", file=sys.stderr)
    return timeouts


def _check_urls(args: argparse.Namespace) -> None:
    for option, value in (("--fallback-url", args.fallback_url), ("--region-url", args.region_url)):
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise UsageError(f"{option} must be an http(s) URL, not {value!r}")
    if args.custom_data is not None and args.from_user is None:
        raise UsageError("--custom-data comes with an app call: give --from-user too")


def _secret(args: argparse.Namespace) -> str | None:
    if args.unsigned:
        return None
    secret = read_secret_file(args.secret_file) if args.secret_file else default_secret()
    if secret is None:
        raise UsageError(
            "no signature secret: set VONAGE_SIGNATURE_SECRET, pass --secret-file, start the"
            " local stack (its .stack/secrets.env), or send --unsigned"
        )
    return secret


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


def say(stream: TextIO, line: str) -> None:
    """One line of a call's progress, indented under the command's own lines."""
    print(f"  {line}", file=stream, flush=True)


def fail(exc: SimulatorError) -> int:
    """Print a failure as one line; its exit status."""
    if isinstance(exc, UsageError):
        print(f"simulator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"simulator: {exc}", file=sys.stderr)
    return EXIT_FAILED
