"""The browser phone's server: a softphone in the browser, served on loopback.

A browser can neither sign webhooks nor set the socket's ``Authorization``
header, so the page talks only to this server, never to the stack: each
WebSocket the page opens on ``/call`` is one call, run by the same call flow as
``simulator call`` (``vonage/call.py``) with the page's microphone as its live caller
(``live.py``). Page to server:

- binary: one 20 ms frame of 16-bit little-endian PCM at the call's rate, paced
  by the page on a 20 ms grid (docs/vonage-protocol.md §3);
- text: ``{"dtmf": "5"}`` presses a key, ``{"hangup": true}`` hangs up.

Server to page: binary frames as the caller hears them (``LivePlayout``), and
text JSON: ``rate`` (start capturing at this rate), ``progress`` (the call
flow's lines: talk, connect, events, reconnects), ``stats`` once a second, and
``report`` at the end. Bad input gets a close code and a reason; a frame of the
wrong size ends the call with 1007.
"""

from __future__ import annotations

import asyncio
import http
import json
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from simulator.audio import FRAME_MS, frame_bytes
from simulator.frontends.phone.live import LiveAudio
from simulator.reports.call_report import ECHO, CallReport, build_report
from simulator.rest_api.link import ApiLink
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext, SignalCache
from simulator.vonage.pacer import Pacer
from simulator.vonage.records import DTMF_DIGITS, CallOptions
from simulator.vonage.signing import Signer
from simulator.vonage.webhook import WebhookClient

#: Calls at once: the phone is for a person or two, not a load generator (``load``).
MAX_CALLS: Final = 4
#: The largest message a page may send: a frame at 24 kHz is 960 bytes.
MAX_MESSAGE: Final = 4096
STATS_SECONDS: Final = 1.0
PAGE_FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/phone.js": ("phone.js", "text/javascript; charset=utf-8"),
    "/capture.js": ("capture.js", "text/javascript; charset=utf-8"),
    "/player.js": ("player.js", "text/javascript; charset=utf-8"),
}
#: The page loads nothing from elsewhere and talks only to this server.
CSP: Final = "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'"


def load_page() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: path -> (body, content type)."""
    folder = resources.files("simulator.frontends.phone") / "page"
    return {path: ((folder / name).read_bytes(), kind) for path, (name, kind) in PAGE_FILES.items()}


@dataclass
class PhoneCall:
    """One call placed from the page: its live audio, and its report once over."""

    audio: LiveAudio
    call: Call
    report: CallReport | None = None
    hung_up_by_page: bool = False


@dataclass
class Phone:
    """The calls' shared parts: where they go, how they are signed and paced."""

    base_url: str
    webhooks: WebhookClient
    signer: Signer | None
    api_link: ApiLink | None = None
    expect: str = ECHO
    instant_talk: bool = False
    post: bool = True
    pacer: Pacer = field(default_factory=Pacer)
    signals: SignalCache = field(default_factory=lambda: SignalCache(FRAME_MS / 1000))
    calls: list[PhoneCall] = field(default_factory=list)
    active: int = 0


class PhoneServer:
    """The page over HTTP and its calls over WebSocket, on a loopback address."""

    def __init__(self, phone: Phone, host: str = "127.0.0.1", port: int = 0) -> None:
        self.phone = phone
        self.host = host
        self.port = port
        self.page = load_page()
        self._server: Server | None = None
        self._allowed: set[str] = set()

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        """Listen; the port is known afterwards."""
        self._server = await serve(
            self._serve_call,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE,
            compression=None,
            server_header="simulator-phone",
        )
        self.port = self._server.sockets[0].getsockname()[1]
        hosts = {self.host, "localhost", "127.0.0.1"}
        self._allowed = {f"{h}:{self.port}" for h in hosts}

    async def close(self) -> None:
        """Stop listening, hang up the calls, stop their pacer."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.phone.pacer.close()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # Another site open in the same browser must not place calls through the stack
        # (Origin), nor read the page through a rebound DNS name (Host).
        host = request.headers.get("Host", "")
        if host not in self._allowed:
            return _response(http.HTTPStatus.MISDIRECTED_REQUEST, f"unknown host {host!r}\n")
        path = request.path.split("?", 1)[0]
        if path == "/call":
            origin = request.headers.get("Origin")
            if origin is None or origin.removeprefix("http://") not in self._allowed:
                return _response(http.HTTPStatus.FORBIDDEN, "the phone's own page only\n")
            if self.phone.active >= MAX_CALLS:
                text = f"{MAX_CALLS} calls already: hang one up first\n"
                return _response(http.HTTPStatus.SERVICE_UNAVAILABLE, text)
            return None  # the upgrade goes on
        page = self.page.get(path)
        if page is None:
            return _response(http.HTTPStatus.NOT_FOUND, f"no {path} here\n")
        return _response(http.HTTPStatus.OK, page[0], page[1])

    async def _serve_call(self, connection: ServerConnection) -> None:
        phone = self.phone
        phone.active += 1
        try:
            await CallSession(phone, connection).run()
        finally:
            phone.active -= 1


class CallSession:
    """One page's call: the page's messages in, the call flow's sound and progress out."""

    def __init__(self, phone: Phone, connection: ServerConnection) -> None:
        self.phone = phone
        self.connection = connection
        self.peers = {connection}
        self._exchanges_shown = self._requests_shown = self._rtt_seen = 0
        self._gaps_known: list[float] = []
        audio = LiveAudio(on_rate=self._on_rate)
        audio.playout.listener = self._heard  # what the caller hears goes to the page
        context = CallContext(
            phone.webhooks,
            phone.pacer,
            phone.signals,
            phone.signer,
            say=self._progress,
            api_link=phone.api_link,
        )
        options = CallOptions(phone.base_url, post=phone.post, instant_talk=phone.instant_talk)
        self.entry = PhoneCall(audio, Call(options, context, audio))
        phone.calls.append(self.entry)

    async def run(self) -> None:
        """Run the call while reading the page; close with the report."""
        running = asyncio.create_task(self.entry.call.run())
        stats = asyncio.create_task(self._send_stats())
        reading = asyncio.create_task(self._read())
        try:
            await asyncio.wait({running, reading}, return_when=asyncio.FIRST_COMPLETED)
            self.entry.audio.hang_up()  # the page left or refused input: the caller is gone
            record = await running
        finally:
            stats.cancel()
            reading.cancel()
            if not running.done():
                running.cancel()
        self._send_news()
        self._send_figures()
        report = build_report(record, self.phone.expect)
        self.entry.report = report
        self._send({"type": "report", "report": report.as_dict()})
        await self.connection.close(CloseCode.NORMAL_CLOSURE, "call over")

    async def _read(self) -> None:
        audio = self.entry.audio
        try:
            async for message in self.connection:
                if isinstance(message, bytes):
                    if problem := audio.feed(message):
                        await self._refuse(problem)
                        return
                    continue
                if self._command(message):
                    return
        except ConnectionClosed:
            pass

    async def _refuse(self, reason: str) -> None:
        self._progress(f"page: {reason}: hanging up")
        await self.connection.close(CloseCode.INVALID_DATA, reason)

    def _command(self, text: str) -> bool:
        """A text message from the page; True when it hangs up."""
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if isinstance(command, dict) and command.get("hangup") is True:
            self.entry.hung_up_by_page = True
            self._progress("hang up: the caller hung up")
            return True
        digit = command.get("dtmf") if isinstance(command, dict) else None
        if isinstance(digit, str) and len(digit) == 1 and digit in DTMF_DIGITS:
            heard = self.entry.call.press(digit)
            self._progress(
                f"dtmf: {digit}" + ("" if heard else " (no input and no socket: not heard)")
            )
            return False
        self._send({"type": "error", "error": f"unknown command {text[:80]!r}"})
        return False

    def _on_rate(self, rate: int) -> None:
        self._send({"type": "rate", "rate": rate, "frame_bytes": frame_bytes(rate)})

    def _heard(self, frame: bytes) -> None:
        broadcast(self.peers, frame)

    def _progress(self, line: str) -> None:
        self._send({"type": "progress", "at": round(time.monotonic(), 3), "line": line})

    def _send(self, message: dict[str, Any]) -> None:
        broadcast(self.peers, json.dumps(message))

    def _send_news(self) -> None:
        """The webhooks and REST requests of the call since the last time, as progress lines."""
        record = self.entry.call.record
        for exchange in record.exchanges[self._exchanges_shown :]:
            leg = f" (socket leg {exchange.leg})" if exchange.leg is not None else ""
            result = exchange.error or f"HTTP {exchange.status}"
            ncco = ", an NCCO back" if exchange.ncco else ""
            line = f"{exchange.kind}{leg}: {exchange.method} {result} in {exchange.ms:.0f} ms{ncco}"
            self._progress(line)
        self._exchanges_shown = len(record.exchanges)
        requests = record.api.requests if record.api is not None else []
        for request in requests[self._requests_shown :]:
            method, action = request.get("method", "?"), request.get("action", "?")
            self._progress(f"REST API: {method} {action} -> {request.get('status', 'refused')}")
        self._requests_shown = len(requests)

    async def _send_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_SECONDS)
            self._send_news()
            self._send_figures()

    def _gaps(self) -> list[float]:
        """The reconnects' gaps; each is worked out once, when its leg's first frame is back."""
        legs = self.entry.call.record.legs
        if len(self._gaps_known) < len(legs) - 1:
            self._gaps_known = reconnect_gaps(self.entry.call)
        return self._gaps_known

    def _send_figures(self) -> None:
        audio = self.entry.audio
        # Round trips of the frames since the last time; those still in flight next time.
        seen = self._rtt_seen
        rtts = sorted(
            audio.recv_at[i] - audio.sent_at[i]
            for i in range(seen, audio.n)
            if audio.recv_at[i] and audio.sent_at[i]
        )
        self._rtt_seen = max(seen, audio.n - 10)
        self._send({
            "type": "stats",
            "sent": audio.sent,
            "echoed": audio.received,
            "rtt_ms": round(rtts[len(rtts) // 2] * 1000, 2) if rtts else None,
            "legs": len(self.entry.call.record.legs),
            "gaps_s": self._gaps(),
        })  # fmt: skip


def reconnect_gaps(call: Call) -> list[float]:
    """Per reconnect: from the last frame back on the old leg to the first on the new one."""
    audio = call.record.audio
    if audio is None:
        return []
    gaps = []
    recv = audio.recv_at
    for before, after in zip(call.record.legs, call.record.legs[1:], strict=False):
        old = range(before.first_frame, after.first_frame)
        last = max((recv[i] for i in old if recv[i]), default=0.0)
        first = next((recv[i] for i in range(after.first_frame, audio.n) if recv[i]), 0.0)
        if last and first:
            gaps.append(round(first - last, 3))
    return gaps


def _response(status: http.HTTPStatus, body: str | bytes, kind: str = "text/plain") -> Response:
    data = body.encode() if isinstance(body, str) else body
    headers = Headers([
        ("Content-Type", kind),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
    ])  # fmt: skip
    return Response(status.value, status.phrase, headers, data)
