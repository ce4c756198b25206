"""The webhooks' side of the socket credential: minted per answer (docs/contract.md).

Minted on the answer and on every reconnect, put in the NCCO endpoint's
``authorization`` (docs/vonage-protocol.md §2), checked by audio_socket at the upgrade,
which lets each ``jti`` open one socket and a higher ``attempt`` supersede a lower one
(docs/security.md). Its lifetime counts from when Vonage can first use it: on the
answer, after the greeting has been spoken (docs/vonage-protocol.md §6: a ``talk``
plays to its end before the ``connect``).

A new claim is one more keyword (as ``region``) or an entry of ``extra``; the audio
service ignores claims it does not know.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

__all__ = ["ALGORITHM", "AUDIENCE", "ISSUER", "SocketCredentials"]

ALGORITHM = "HS256"
AUDIENCE = "audio_socket"
ISSUER = "webhooks"


@dataclass(frozen=True, slots=True)
class SocketCredentials:
    """Mints short-lived HS256 JWTs naming one call and one connect attempt."""

    secret: bytes
    ttl: int

    def mint(
        self,
        call_uuid: str,
        attempt: int,
        *,
        delay: float = 0.0,
        now: float | None = None,
        region: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> str:
        """A credential for ``call_uuid``'s connect ``attempt``.

        It is valid for ``ttl`` seconds after ``delay``: how long Vonage takes
        before it opens the socket (the greeting's estimated length on the answer).
        ``region``: the Vonage API host of the call's ``region_url``, already checked
        (``webhooks/call_fields.py``); the audio service sends the call's REST requests there.
        """
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {
            **(extra or {}),
            "sub": call_uuid,
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": issued,
            "exp": issued + int(delay + 0.999) + self.ttl,
            "jti": secrets.token_urlsafe(16),
            "attempt": attempt,
        }
        if region is not None:
            claims["region"] = region
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)
