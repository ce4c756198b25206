"""Verification of Vonage signed webhooks (docs/vonage-protocol.md §6).

Vonage sends ``Authorization: Bearer <JWT>``, HS256 with the account's signature
secret, claims ``iat`` and ``payload_hash`` (hex SHA-256 of the body). vonage-jwt's
helper checks only the signature, so the freshness and body checks are done here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from webhooks.errors import SignatureRejected

__all__ = ["ALGORITHM", "SignatureVerifier"]

ALGORITHM = "HS256"  # the only one Vonage signs with; `none` and the rest are refused
_SCHEME = "bearer"


@dataclass(frozen=True, slots=True)
class SignatureVerifier:
    """Checks one request's signature against the secret, the clock and its body."""

    secret: bytes
    max_age: int

    def verify(
        self, authorization: str | None, body: bytes, now: float | None = None
    ) -> Mapping[str, Any]:
        """Return the verified claims, or raise ``SignatureRejected`` saying why."""
        token = _bearer_token(authorization)
        now = time.time() if now is None else now
        try:
            # The leeway lets PyJWT accept an `iat` up to max_age in the future (clock
            # skew); staleness in the past is checked below, where PyJWT does not look.
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["iat"]},
                leeway=self.max_age,
            )
        except jwt.InvalidAlgorithmError:
            raise SignatureRejected(f"signature algorithm not allowed: only {ALGORITHM}") from None
        except jwt.InvalidSignatureError:
            raise SignatureRejected("signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise SignatureRejected(f"signature lacks the {exc.claim} claim") from None
        except (jwt.ImmatureSignatureError, jwt.ExpiredSignatureError):
            raise SignatureRejected("signature is not fresh") from None
        except jwt.PyJWTError:
            raise SignatureRejected("signature is not a valid JWT") from None
        _check_fresh(claims["iat"], now, self.max_age)
        if body:
            _check_payload_hash(claims.get("payload_hash"), body)
        return claims


def _bearer_token(authorization: str | None) -> str:
    if authorization is None:
        raise SignatureRejected("the Authorization header is missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != _SCHEME or not token:
        raise SignatureRejected("the Authorization header must be 'Bearer <JWT>'")
    return token


def _check_fresh(iat: Any, now: float, max_age: int) -> None:
    # PyJWT accepts any int()-able `iat`, a string included; Vonage sends a number.
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise SignatureRejected("signature iat is not a number")
    if not abs(now - iat) <= max_age:  # written so that NaN fails too
        raise SignatureRejected("signature is not fresh")


def _check_payload_hash(claimed: Any, body: bytes) -> None:
    if not isinstance(claimed, str):
        raise SignatureRejected("signature lacks payload_hash for a request with a body")
    actual = hashlib.sha256(body).hexdigest()
    # Compared as ASCII bytes: compare_digest refuses non-ASCII str, which a forger controls.
    if not hmac.compare_digest(claimed.lower().encode("utf-8"), actual.encode("ascii")):
        raise SignatureRejected("payload_hash does not match the body")
