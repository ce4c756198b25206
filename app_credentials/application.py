"""The Vonage application's credentials, and which REST hosts a call may be sent to.

Call control (hang up, transfer, talk, DTMF: docs/vonage-protocol.md §8) goes through
Vonage's Voice REST API, authenticated with a JWT (RS256) signed by the application's
private key. The key is ``VONAGE_PRIVATE_KEY`` (the PEM text) or
``VONAGE_PRIVATE_KEY_PATH``, and must be PKCS#8 (``BEGIN PRIVATE KEY``): the SDK
refuses PKCS#1. All of it is optional; set one and every one is checked at start-up.

The REST host of a call is, in order: ``VONAGE_API_HOST`` when set; else the call's
``region_url`` from the answer request, which reaches this service inside the signed
socket credential and only when it names a Vonage API host; else the SDK's default.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = [
    "DEFAULT_API_HOST",
    "Application",
    "is_vonage_api_host",
    "load_application",
    "normalise_private_key",
    "sdk_auth",
]

log = logging.getLogger(__name__)

#: vonage-http-client's default ``api_host``.
DEFAULT_API_HOST: Final = "api.nexmo.com"
#: Vonage's own API hosts, global or regional: api.nexmo.com, api-eu.vonage.com,
#: api-us-3.vonage.com, api-ap-1.vonage.com, ... Nothing else is ever sent a JWT
#: because a credential named it.
_VONAGE_API_HOST: Final = re.compile(r"api(?:-[a-z]{2}(?:-[0-9]{1,2})?)?\.(?:vonage|nexmo)\.com")
#: ``host[:port]`` of VONAGE_API_HOST: a DNS name or IPv4 address, an optional port.
_HOST_PORT: Final = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PKCS8_BEGIN: Final = "-----BEGIN PRIVATE KEY-----"
_MAX_KEY_BYTES: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class Application:
    """A Vonage application's id and private key, and the REST host override."""

    application_id: str
    private_key: str = field(repr=False)
    #: VONAGE_API_HOST: every call's requests go there when set.
    api_host: str | None = None

    def host_for(self, region: str | None) -> str:
        """The REST host of a call whose credential named ``region`` (a host) or none."""
        if self.api_host is not None:
            return self.api_host
        if region is not None and is_vonage_api_host(region):
            return region
        return DEFAULT_API_HOST


def is_vonage_api_host(host: str) -> bool:
    """Whether ``host`` (no scheme, no port) is one of Vonage's API hosts."""
    return _VONAGE_API_HOST.fullmatch(host) is not None


def normalise_private_key(text: str) -> str:
    """The PEM text, with ``\\n`` escapes (a one-line ``.env`` value) turned into newlines."""
    return text.strip().replace("\\n", "\n") + "\n"


def check_private_key(pem: str) -> str | None:
    """What is wrong with ``pem`` as the application's key, or None."""
    if len(pem.encode()) > _MAX_KEY_BYTES:
        return "is not a PEM private key (too long)"
    if "BEGIN RSA PRIVATE KEY" in pem:
        return (
            "is PKCS#1 (BEGIN RSA PRIVATE KEY); the SDK needs PKCS#8: "
            "openssl pkcs8 -topk8 -nocrypt -in private.key -out private8.key"
        )
    if _PKCS8_BEGIN not in pem:
        return "must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)"
    try:
        # Parsed once here, at start-up, and kept for sdk_auth: the first REST request
        # then parses nothing in a worker thread.
        jwt.encode({"probe": 1}, signing_key(pem), algorithm="RS256")
    except Exception:  # any failure to sign is the same problem for the operator
        return "is not a usable RSA private key (RS256 signing failed)"
    return None


def sdk_auth(application: Application) -> Any:
    """vonage-http-client's ``Auth`` for ``application``, signing with a key parsed once.

    The SDK keeps the key's PEM text, and PyJWT parses it again for every JWT it signs,
    that is for every REST request. Parsing an RSA private key runs cryptography's key
    check: about 50 ms of CPU for a 2048-bit key and 400 ms for 4096 bits, all of it
    holding the GIL. In the audio service the requests run in worker threads, and that
    time stalls the event loop that carries every call's frames. Signing with the parsed
    key takes under a millisecond. The SDK offers no way to pass a parsed key, so its
    JWT client is handed one; if a later SDK moves that attribute, requests still work
    (parsing per JWT again) and a warning says so.
    """
    # Imported here: the webhooks service uses this package without making requests.
    from vonage_http_client import Auth  # type: ignore[import-untyped]  # noqa: PLC0415

    auth = Auth(application_id=application.application_id, private_key=application.private_key)
    client = getattr(auth, "_jwt_client", None)
    if client is not None and isinstance(getattr(client, "_private_key", None), str | bytes):
        client._private_key = signing_key(application.private_key)
    else:
        log.warning(
            "the Vonage SDK's JWT client has changed: each REST request parses the private"
            " key again (about 50 ms of CPU holding the GIL)"
        )
    return auth


@lru_cache(maxsize=4)
def signing_key(pem: str) -> RSAPrivateKey:
    """The application's RSA key from its PEM text, parsed (and checked) once."""
    key = load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError("the application's private key is not an RSA key")
    return key


def check_api_host(value: str) -> str | None:
    """What is wrong with VONAGE_API_HOST's value, or None."""
    match = _HOST_PORT.fullmatch(value)
    port = match and match.group("port")
    if not match or (port and not 0 < int(port) <= 65535):
        return "must be host[:port] with no scheme or path, e.g. api-eu.vonage.com"
    return None


def load_application(
    application_id: str | None,
    private_key: str | None,
    private_key_path: Path | None,
    api_host: str | None,
) -> tuple[Application | None, list[tuple[str, str]]]:
    """The application, or None when none of its variables is set; and the problems.

    Each problem is ``(VARIABLE, what is wrong)``; values are never quoted.
    """
    problems: list[tuple[str, str]] = []
    if api_host is not None and (problem := check_api_host(api_host)):
        problems.append(("VONAGE_API_HOST", problem))
    if application_id is None and private_key is None and private_key_path is None:
        return None, problems
    if application_id is None:
        problems.append(("VONAGE_APPLICATION_ID", "required when VONAGE_PRIVATE_KEY(_PATH) is set"))
    elif not _UUID.fullmatch(application_id.strip().lower()):
        problems.append(("VONAGE_APPLICATION_ID", "must be the application's id (a UUID)"))
    pem, name = _read_key(private_key, private_key_path, problems)
    if pem is not None and (problem := check_private_key(pem)):
        problems.append((name, problem))
    if problems or application_id is None or pem is None:
        return None, problems
    return Application(application_id.strip().lower(), pem, api_host), problems


def _read_key(
    private_key: str | None, path: Path | None, problems: list[tuple[str, str]]
) -> tuple[str | None, str]:
    if private_key is not None and path is not None:
        problems.append(("VONAGE_PRIVATE_KEY", "set VONAGE_PRIVATE_KEY or _PATH, not both"))
        return None, "VONAGE_PRIVATE_KEY"
    if private_key is not None:
        return normalise_private_key(private_key), "VONAGE_PRIVATE_KEY"
    if path is None:
        problems.append(
            ("VONAGE_PRIVATE_KEY", "required (or VONAGE_PRIVATE_KEY_PATH) with the application id")
        )
        return None, "VONAGE_PRIVATE_KEY"
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_KEY_BYTES + 1)
    except OSError as exc:
        problems.append(("VONAGE_PRIVATE_KEY_PATH", f"cannot read {path}: {exc.strerror}"))
        return None, "VONAGE_PRIVATE_KEY_PATH"
    try:
        return data.decode("ascii"), "VONAGE_PRIVATE_KEY_PATH"
    except UnicodeDecodeError:
        problems.append(("VONAGE_PRIVATE_KEY_PATH", "is not a PEM file (not ASCII text)"))
        return None, "VONAGE_PRIVATE_KEY_PATH"
