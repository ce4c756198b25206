"""Vonage-style signed webhooks: the JWT Vonage puts on each request it sends.

docs/vonage-protocol.md §6: ``Authorization: Bearer <JWT>``, HS256 keyed with the
account's signature secret, claims ``iat``, ``jti``, ``iss: "Vonage"``,
``payload_hash`` (hex SHA-256 of the request body), ``api_key`` and
``application_id``. What ``payload_hash`` covers follows Vonage's support article
on signed webhooks: for a POST, the compact JSON body sent (serialised once, by
:func:`compact_json`, and sent as is); for a GET, a compact JSON object of the query
parameters in their order (:func:`query_json`).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "Vonage"
ALGORITHM = "HS256"
DEFAULT_API_KEY = "5e1a7c0d"
DEFAULT_APPLICATION_ID = "5a1e0c7d-0000-4000-8000-00000000a11c"


def compact_json(fields: Mapping[str, Any]) -> bytes:
    """JSON with no whitespace, as Vonage serialises a webhook body."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def query_json(query: Mapping[str, str]) -> bytes:
    """What a GET's ``payload_hash`` covers: its query parameters, in order, as JSON."""
    return compact_json(query)


def payload_hash(body: bytes) -> str:
    """Hex SHA-256 of a request body, as Vonage's ``payload_hash`` claim."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Signer:
    """Signs requests with the signature secret, as Vonage does."""

    secret: str
    api_key: str = DEFAULT_API_KEY
    application_id: str = DEFAULT_APPLICATION_ID

    def claims(self, body: bytes, now: float | None = None) -> dict[str, object]:
        """The claims of one request's token."""
        return {
            "iat": int(time.time() if now is None else now),
            "jti": str(uuid.uuid4()),
            "iss": ISSUER,
            "payload_hash": payload_hash(body),
            "api_key": self.api_key,
            "application_id": self.application_id,
        }

    def token(self, body: bytes, now: float | None = None) -> str:
        """A signed JWT whose ``payload_hash`` covers ``body`` (``query_json`` for a GET)."""
        return jwt.encode(self.claims(body, now), self.secret, algorithm=ALGORITHM)

    def authorization(self, body: bytes) -> str:
        """The ``Authorization`` header value whose ``payload_hash`` covers ``body``."""
        return f"Bearer {self.token(body)}"
