"""The audio service's side of the socket credential: checked at the upgrade (docs/contract.md).

The webhooks service mints, for each answer and reconnect, a JWT (HS256, key
``SOCKET_TOKEN_SECRET``) naming the call in ``sub`` and the connect ``attempt``,
with a random ``jti``, expiring within a minute of the greeting's end; Vonage sends
it on the upgrade as ``Authorization: Bearer <jwt>``. Anything else is refused
before a socket opens. What one credential may open is ``admission.py``'s business.
Rejection reasons are fixed strings: they are logged, and never quote the token.
Claims this service does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import jwt

from app_credentials import is_vonage_api_host
from audio_socket.errors import CredentialRejected

AUDIENCE: Final = "audio_socket"
ISSUER: Final = "webhooks"
ALGORITHM: Final = "HS256"
LEEWAY_SECONDS: Final = 5
REQUIRED_CLAIMS: Final = ("sub", "aud", "iss", "iat", "exp", "jti", "attempt")
#: Far above any RECONNECT_ATTEMPTS; the webhooks never mint more.
MAX_ATTEMPT: Final = 1000
#: The webhooks mint 22 characters; a longer jti is not theirs.
MAX_JTI_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential: the call it admits, which attempt, until when, its REST host."""

    call_uuid: str
    expires_at: int
    #: Opens at most one socket on a replica (docs/security.md).
    jti: str
    #: The connect attempt (1 on the answer): a higher one supersedes a live socket.
    attempt: int
    #: The Vonage API host of the call's ``region_url`` (docs/contract.md), if any: the
    #: only way it reaches this service, since whoever opens the socket writes the
    #: first message, and an application-wide JWT must never go where they say.
    region: str | None = None


def parse_authorization(values: Sequence[str]) -> str:
    """Return the token of the single ``Authorization: Bearer <token>`` header.

    Raises:
        CredentialRejected: No header, several, or another scheme.
    """
    if not values:
        raise CredentialRejected("missing credential")
    if len(values) > 1:
        raise CredentialRejected("several Authorization headers")
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise CredentialRejected("not a bearer credential")
    return token


def verify_credential(token: str, secret: bytes) -> Credential:
    """Verify signature, algorithm, audience, issuer and expiry of ``token``.

    Only HS256 is accepted, so ``none`` and algorithm-confusion tokens fail.

    Raises:
        CredentialRejected: The token is not a valid credential for this service.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise CredentialRejected("expired credential") from None
    except jwt.InvalidTokenError as exc:
        raise CredentialRejected(f"invalid credential ({type(exc).__name__})") from None
    call_uuid = claims["sub"]
    if not isinstance(call_uuid, str) or not call_uuid:
        raise CredentialRejected("credential names no call")
    jti, attempt = claims["jti"], claims["attempt"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise CredentialRejected("credential jti is not a short string")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 0 < attempt <= MAX_ATTEMPT:
        raise CredentialRejected("credential attempt is not a connect attempt")
    region = claims.get("region")
    if not isinstance(region, str) or not is_vonage_api_host(region):
        region = None
    return Credential(call_uuid, int(claims["exp"]), jti, attempt, region)
