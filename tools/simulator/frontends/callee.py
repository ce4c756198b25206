"""``python -m simulator callee BASE_URL``: be the phone the application dials; one report a call.

The application places outbound calls through the local stack's Voice REST API
(``python -m webhooks dial``); this process serves as the API's dialer
(``vonage/dialer.py``) and answers them until ``--calls`` have ended.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys

from simulator.errors import SimulatorError, UsageError
from simulator.net import client_ssl_context
from simulator.reports.call_report import CallReport, build_report, render
from simulator.setup import EXIT_FAILED, EXIT_OK, fail, open_api_link, resolve, say
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.dialer import Dialer
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import CallRecord
from simulator.vonage.webhook import WebhookClient


async def callee_main(args: argparse.Namespace) -> int:
    """``callee`` with its failures turned into one line and a status."""
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
    say_line = functools.partial(say, progress)
    context = CallContext(
        webhooks, pacer, SignalCache(setup.seconds, setup.wav), setup.signer(), say_line, link
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
        say_line(f"waiting for {args.calls} outbound call(s): python -m webhooks dial NUMBER")
        await done.wait()
    finally:
        await pacer.close()
        await webhooks.aclose()
        await link.close()
    return EXIT_OK if all(report.passed for report in reports) else EXIT_FAILED
