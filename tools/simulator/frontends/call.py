"""``python -m simulator call BASE_URL``: one call, its report, and what the caller heard."""

from __future__ import annotations

import argparse
import functools
import json
import sys

from simulator.audio import write_wav
from simulator.errors import SimulatorError, UsageError
from simulator.net import client_ssl_context
from simulator.reports.call_report import build_report, render
from simulator.reports.heard import heard_samples
from simulator.setup import EXIT_FAILED, EXIT_OK, fail, open_api_link, resolve, say
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import DTMF_DIGITS
from simulator.vonage.webhook import WebhookClient


async def call_main(args: argparse.Namespace) -> int:
    """``call`` with its failures turned into one line and a status."""
    try:
        return await call_command(args)
    except SimulatorError as exc:
        return fail(exc)


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
        say=functools.partial(say, progress),
        api_link=link,
    )
    options = setup.call_options(
        dtmf=args.dtmf,
        keep_audio=args.out is not None,
        lenient_frames=args.lenient_frames,
        drop_notify=args.drop_notify,
    )
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
