"""Verification of Vonage signed webhooks (docs/vonage-protocol.md §6, docs/security.md).

Vonage sends ``Authorization: Bearer <JWT>``, HS256 with the account's signature
secret, claims ``iat``, ``jti`` and ``payload_hash``. vonage-jwt's helper checks only
the signature, so everything else is checked here, before a request is acted on:

- ``iat`` within ``SIGNATURE_MAX_AGE`` of the clock, either way; ``exp`` and ``nbf``,
  when present, with a separate skew of a few seconds (``SIGNATURE_CLOCK_SKEW``);
- ``payload_hash``, whenever present, against what is acted on: the SHA-256 of the
  body exactly as received (empty included), or for a GET, as Vonage's support
  article on signed webhooks computes it, of a compact JSON object of the query
  parameters in their order; required when there is a body or a query;
- ``jti`` seen once (``webhooks.replay``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from webhooks.errors import SignatureRejected
from webhooks.replay import ReplayCache

__all__ = ["ALGORITHM", "DEFAULT_CLOCK_SKEW", "SignatureVerifier", "query_payload"]

ALGORITHM = "HS256"  # the only one Vonage signs with; `none` and the rest are refused
DEFAULT_CLOCK_SKEW = 5
_SCHEME = "bearer"
# Vonage's jti is a UUID; anything longer is not one of theirs.
_MAX_JTI_CHARS = 128


def query_payload(items: Sequence[tuple[str, str]]) -> bytes:
    """What a GET's ``payload_hash`` covers: its query as compact JSON, keys in order.

    Raises:
        SignatureRejected: A name appears twice: no single object describes the query.
    """
    fields = dict(items)
    if len(fields) != len(items):
        raise SignatureRejected("a signed query may name each parameter once")
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class SignatureVerifier:
    """Checks one request's signature against the secret, the clock and its content."""

    secret: bytes
    max_age: int
    clock_skew: int = DEFAULT_CLOCK_SKEW
    replay: ReplayCache | None = None

    def verify(
        self,
        authorization: str | None,
        body: bytes,
        now: float | None = None,
        *,
        query: Sequence[tuple[str, str]] | None = None,
    ) -> Mapping[str, Any]:
        """Return the verified claims, or raise ``SignatureRejected`` saying why.

        ``query`` is given for a GET: the hash is then checked against its parameters.
        """
        token = _bearer_token(authorization)
        now = time.time() if now is None else now
        claims = self._decode(token)
        _check_fresh(claims["iat"], now, self.max_age)
        if query is not None:
            signed = query_payload(query)
            _check_payload_hash(claims.get("payload_hash"), signed, required=bool(query))
        else:
            _check_payload_hash(claims.get("payload_hash"), body, required=bool(body))
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_CHARS:
            raise SignatureRejected("signature jti is not a short string")
        if self.replay is not None:
            # Last: only a request that passed every other check takes a slot.
            self.replay.check_and_add(jti, now)
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            # PyJWT checks `exp` and `nbf` (when present) with the small skew; `iat` is
            # checked below with its own, wider window, where PyJWT does not look.
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["iat", "jti"], "verify_iat": False},
                leeway=self.clock_skew,
            )
        except jwt.InvalidAlgorithmError:
            raise SignatureRejected(f"signature algorithm not allowed: only {ALGORITHM}") from None
        except jwt.InvalidSignatureError:
            raise SignatureRejected("signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise SignatureRejected(f"signature lacks the {exc.claim} claim") from None
        except (jwt.ImmatureSignatureError, jwt.ExpiredSignatureError):
            raise SignatureRejected("signature is not fresh") from None
        except jwt.exceptions.InvalidJTIError:
            raise SignatureRejected("signature jti is not a short string") from None
        except jwt.PyJWTError:
            raise SignatureRejected("signature is not a valid JWT") from None
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


def _check_payload_hash(claimed: Any, signed: bytes, *, required: bool) -> None:
    if claimed is None and not required:
        return
    if not isinstance(claimed, str):
        raise SignatureRejected("signature lacks payload_hash for a request with content")
    actual = hashlib.sha256(signed).hexdigest()
    # Compared as ASCII bytes: compare_digest refuses non-ASCII str, which a forger controls.
    if not hmac.compare_digest(claimed.lower().encode("utf-8"), actual.encode("ascii")):
        raise SignatureRejected("payload_hash does not match what was sent")
