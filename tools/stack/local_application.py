"""The local Vonage application the stack makes for the simulator's Voice REST API.

``make run`` needs no Vonage account, so it makes what an account would give:

- an application id and its private key (RSA, PKCS#8 as the SDK needs), made once
  per state folder and kept in ``voice-api/application.key`` (mode 0600), with the
  public key beside it for the simulator to check the JWTs with;
- a throwaway CA (trustme) and a certificate for 127.0.0.1, since the SDK only
  speaks HTTPS: the audio replicas and webhooks trust it through
  ``REQUESTS_CA_BUNDLE``, and nothing else does;
- the link token the simulator's processes open their link to the API with.

``api.env`` in the same folder says where the API is and how to reach it; the
simulator's ``call`` and ``load`` read it (``tools/simulator/local_stack.py``).
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["API_ENV", "VoiceApiFiles", "prepare_voice_api"]

FOLDER: Final = "voice-api"
API_ENV: Final = "api.env"
_KEY_BITS: Final = 2048


@dataclass(frozen=True)
class VoiceApiFiles:
    """Where the local Voice REST API's material is, and the application's id."""

    folder: Path
    application_id: str

    @property
    def private_key(self) -> Path:
        """The application's private key, PKCS#8 PEM (0600)."""
        return self.folder / "application.key"

    @property
    def public_key(self) -> Path:
        """Its public key: what the simulator checks the REST JWTs with."""
        return self.folder / "application.pub"

    @property
    def ca(self) -> Path:
        """The root the SDK is made to trust (``REQUESTS_CA_BUNDLE``)."""
        return self.folder / "ca.pem"

    @property
    def certfile(self) -> Path:
        """The API's certificate chain, for 127.0.0.1 and localhost."""
        return self.folder / "cert.pem"

    @property
    def keyfile(self) -> Path:
        """The API's TLS key (0600)."""
        return self.folder / "tls.key"

    @property
    def env_file(self) -> Path:
        """``api.env``: the API's URL, application id, CA and link token (0600)."""
        return self.folder / API_ENV


def prepare_voice_api(state_dir: Path) -> VoiceApiFiles:
    """The key pair (kept across runs), a fresh certificate; the files' places."""
    folder = state_dir / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    id_file = folder / "application.id"
    files = VoiceApiFiles(folder, _read_id(id_file))
    if not files.private_key.is_file() or not id_file.is_file():
        key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        write_private(files.private_key, pem)
        files.public_key.write_bytes(public)
        id_file.write_text(files.application_id + "\n")
    ca = trustme.CA(organization_name="Vonage simulator (local stack)")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.private_key_pem.write_to_path(str(files.keyfile))
    files.keyfile.chmod(0o600)
    cert.cert_chain_pems[0].write_to_path(str(files.certfile))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.certfile), append=True)
    return files


def write_api_env(files: VoiceApiFiles, api_host: str, link_token: str) -> None:
    """``api.env``: what the simulator's call and load need to reach the API."""
    body = (
        f"VONAGE_API_HOST={api_host}\n"
        f"VONAGE_APPLICATION_ID={files.application_id}\n"
        f"SIMULATOR_API_CA={files.ca}\n"
        f"SIMULATOR_API_TOKEN={link_token}\n"
    )
    write_private(files.env_file, body.encode())


def new_link_token() -> str:
    """A fresh token for the simulator's links (one per run)."""
    return secrets.token_urlsafe(32)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by this user only, from the first byte."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    partial.replace(path)


def _read_id(path: Path) -> str:
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except (OSError, ValueError):
        return str(uuid.uuid4())
