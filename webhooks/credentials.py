"""The per-call socket credential (docs/contract.md, "The per-call socket credential").

Minted on the answer and on every reconnect, put in the NCCO endpoint's
``authorization`` (docs/vonage-protocol.md §2), checked by audio_socket at the upgrade.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

__all__ = ["ALGORITHM", "AUDIENCE", "ISSUER", "SocketCredentials"]

ALGORITHM = "HS256"
AUDIENCE = "audio_socket"
ISSUER = "webhooks"


@dataclass(frozen=True, slots=True)
class SocketCredentials:
    """Mints short-lived HS256 JWTs naming one call."""

    secret: bytes
    ttl: int

    def mint(self, call_uuid: str, now: float | None = None, region: str | None = None) -> str:
        """A credential for ``call_uuid`` (the answer request's ``uuid``), valid ``ttl`` s.

        ``region``: the Vonage API host of the call's ``region_url``, already checked
        (``webhooks/call_fields.py``); the audio service sends the call's REST requests there.
        """
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {
            "sub": call_uuid,
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": issued,
            "exp": issued + self.ttl,
            "jti": secrets.token_urlsafe(16),
        }
        if region is not None:
            claims["region"] = region
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)
