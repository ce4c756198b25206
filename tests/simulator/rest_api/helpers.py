"""The simulator's Voice REST API on loopback, for tests: its application, a call that
answers like the simulator's, and the running API (the ``api`` fixture, tests/conftest.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app_credentials import Application
from audio_socket.voice_api import VoiceApi
from simulator.net import client_ssl_context
from simulator.rest_api.link import ApiCommand, ApiLink
from simulator.rest_api.server import VoiceApiServer

APP_ID = str(uuid.uuid4())
TOKEN = "link-token-" + "x" * 20


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


KEY, PUBLIC = _key_pair()
OTHER_KEY, _ = _key_pair()


@dataclass
class Target:
    """A call that answers like the simulator's: records what it was asked."""

    commands: list[ApiCommand] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def api_command(self, command: ApiCommand) -> tuple[int, Any]:
        self.commands.append(command)
        if command.action in ("hangup", "transfer"):
            return 204, None
        return 200, {"message": "ok", "uuid": command.request["uuid"]}

    def api_refused(self, request: dict[str, Any]) -> None:
        self.refused.append(request)


@dataclass
class Api:
    server: VoiceApiServer
    link: ApiLink
    host: str
    clock: list[float]

    def client(self, key: str = KEY, timeout: float = 5.0) -> VoiceApi:
        return VoiceApi(Application(APP_ID, key, self.host), timeout)


@asynccontextmanager
async def running_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API on loopback with a trustme certificate; the SDK is to trust ``ca.pem``
    in ``tmp_path`` (``REQUESTS_CA_BUNDLE``)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    clock = [0.0]
    server = VoiceApiServer(
        application_id=APP_ID,
        public_key=PUBLIC,
        link_token=TOKEN,
        certfile=str(tmp_path / "cert.pem"),
        keyfile=str(tmp_path / "key.pem"),
        now=lambda: time.time() + clock[0],
    )
    await server.start()
    host = f"127.0.0.1:{server.port}"
    link = ApiLink(f"https://{host}", TOKEN, client_ssl_context(tmp_path / "ca.pem"))
    await link.open()
    try:
        yield Api(server, link, host, clock)
    finally:
        await link.close()
        await server.stop()
