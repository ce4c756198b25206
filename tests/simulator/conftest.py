"""Fixtures: a fake stack (webhooks + audio socket) on loopback, and running the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from simulator.cli import build_parser
from simulator.frontends.call import call_main
from tests.simulator.certs import ServerCert, make_server_cert
from tests.simulator.fakes import (
    SECRET,
    FakeSocket,
    FakeWebhooks,
    Reply,
    Request,
    Route,
    connect_ncco,
)

MAX_ATTEMPTS = 3
APOLOGY = "Sorry, we cannot connect your call"


@dataclass
class FakeStack:
    """A running fake stack and the options that reach it."""

    hooks: FakeWebhooks
    socket: FakeSocket
    cert: ServerCert | None
    #: The signature secret, in a file: never on the command line.
    secret_file: Path

    @property
    def events_url(self) -> str:
        """The connect's eventUrl."""
        return f"{self.hooks.base_url}/webhooks/events"

    def argv(
        self, *extra: str, seconds: float | None = 1.0, trust: bool = True, talk: bool = False
    ) -> list[str]:
        """``call`` options for this stack (``trust``: its root as --cafile; ``talk``: timed)."""
        argv = ["call", self.hooks.base_url, "--secret-file", str(self.secret_file)]
        if not talk:
            argv.append("--instant-talk")
        if seconds is not None:
            argv += ["--seconds", str(seconds)]
        if self.cert is not None and trust:
            argv += ["--cafile", str(self.cert.root)]
        return [*argv, *extra]


class StartStack(Protocol):
    """Starts a fake stack."""

    def __call__(
        self,
        *,
        tls: bool = True,
        self_signed: bool = False,
        socket: FakeSocket | None = None,
        answer: Route | None = None,
        events: Route | None = None,
    ) -> Awaitable[FakeStack]:
        """Start it."""


def reconnecting_events(stack: Callable[[], FakeStack]) -> Route:
    """The real webhooks' rule: reconnect on disconnected/failed, then apologise."""

    async def events(request: Request) -> Reply:
        fields = request.fields()
        if fields.get("status") not in ("disconnected", "failed"):
            return 204, None
        attempt = int(fields["headers"]["attempt"])
        if attempt >= MAX_ATTEMPTS:
            return 200, [{"action": "talk", "text": APOLOGY}]
        current = stack()
        ncco = connect_ncco(current.socket.uri, current.events_url, attempt=attempt + 1)
        return 200, ncco[1:]

    return events


def secret_file(folder: Path) -> Path:
    """A file in ``folder`` holding the fake stack's signature secret."""
    path = folder / "signature-secret"
    path.write_text(f"{SECRET}\n")
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No local stack state, secret or proxy leaks in from the machine."""
    monkeypatch.chdir(tmp_path)
    for name in ("STACK_STATE_DIR", "VONAGE_SIGNATURE_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
async def start_stack(isolated: Path) -> AsyncIterator[StartStack]:
    """Start fake stacks; all are closed at the end of the test."""
    running: list[FakeStack] = []

    async def start(
        *,
        tls: bool = True,
        self_signed: bool = False,
        socket: FakeSocket | None = None,
        answer: Route | None = None,
        events: Route | None = None,
    ) -> FakeStack:
        folder = isolated / f"tls{len(running)}"
        cert = make_server_cert(folder, self_signed=self_signed) if tls else None
        context = cert.server_context() if cert else None
        host = "localhost" if tls else "127.0.0.1"
        sock = socket or FakeSocket()
        sock.ssl_context, sock.host = context, host
        await sock.start()
        hooks = FakeWebhooks(ssl_context=context, host=host)
        stack = FakeStack(hooks, sock, cert, secret_file(isolated))
        running.append(stack)

        async def default_answer(_request: Request) -> Reply:
            return 200, connect_ncco(sock.uri, stack.events_url)

        hooks.answer = answer or default_answer
        hooks.events = events or reconnecting_events(lambda: stack)
        await hooks.start()
        return stack

    yield start
    for stack in running:
        await stack.hooks.close()
        await stack.socket.close()
    assert not [e for s in running for e in s.hooks.errors], "a fake route raised"


@dataclass
class Run:
    """What one CLI run printed and returned."""

    status: int
    out: str
    err: str

    def report(self) -> dict[str, Any]:
        """The ``--json`` report."""
        value = json.loads(self.out)
        assert isinstance(value, dict)
        return value


@pytest.fixture
def run_call(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], Awaitable[Run]]:
    """Run ``python -m simulator call ...`` in this event loop."""

    async def run(argv: list[str]) -> Run:
        capsys.readouterr()
        status = await call_main(build_parser().parse_args(argv))
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run
