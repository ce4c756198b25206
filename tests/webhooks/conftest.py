"""Shared fixtures for the webhooks tests: settings, a client, and Vonage-like signing."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from starlette.exceptions import StarletteDeprecationWarning

# Starlette 1.10 prefers httpx2 for its TestClient and warns, once at import, when only
# httpx is installed (as pinned in pyproject.toml). Warnings are errors in this suite,
# so the import is made here with that one warning silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from webhooks.app import create_app
from webhooks.settings import Settings

PUBLIC_HOST = "calls.example.com"
SOCKET_URI = f"wss://{PUBLIC_HOST}/socket"
EVENTS_URL = f"https://{PUBLIC_HOST}/webhooks/events"
# 64 bytes: long enough for PyJWT not to warn even when a test signs with HS512.
SIGNATURE_SECRET = "signature-secret-for-tests-" + "0123456789abcdef" * 2 + "ABCDEFGHIJK"
SOCKET_SECRET = "socket-secret-for-tests-" + "fedcba9876543210" * 2 + "KJIHGFEDCBAzy"
CALL_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"
CALLED = "447700900000"

VARIABLES = (
    "PUBLIC_HOST",
    "VONAGE_SIGNATURE_SECRET",
    "VONAGE_VERIFY_SIGNATURES",
    "SIGNATURE_MAX_AGE",
    "SIGNATURE_CLOCK_SKEW",
    "SIGNATURE_JTI_CACHE_SIZE",
    "WEBHOOKS_ALLOW_GET",
    "SOCKET_TOKEN_SECRET",
    "SOCKET_TOKEN_TTL",
    "AUDIO_SAMPLE_RATE",
    "RECONNECT_ATTEMPTS",
    "GREETING_TEXT",
    "GREETING_LANGUAGE",
    "APOLOGY_TEXT",
    "WEBHOOKS_HOST",
    "WEBHOOKS_PORT",
    "LOG_LEVEL",
)

__all__ = ["TestClient", "make_settings", "query_hash", "sign"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own variables out of every test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def make_settings(**overrides: Any) -> Settings:
    """Settings from values alone: model_validate reads neither the environment nor .env."""
    values: dict[str, Any] = {
        "public_host": PUBLIC_HOST,
        "vonage_signature_secret": SIGNATURE_SECRET,
        "socket_token_secret": SOCKET_SECRET,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def sign(
    body: bytes = b"",
    *,
    secret: str = SIGNATURE_SECRET,
    iat: float | None = None,
    algorithm: str = "HS256",
    omit: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """An ``Authorization`` value as Vonage signs webhooks (docs/vonage-protocol.md §6).

    Each call makes a new ``jti``, as Vonage does for every request it sends.
    """
    payload: dict[str, Any] = {
        "iat": int(time.time()) if iat is None else iat,
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "api_key": "abcd1234",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    if body:
        payload["payload_hash"] = hashlib.sha256(body).hexdigest()
    payload.update(claims)
    for name in omit:
        del payload[name]
    return "Bearer " + jwt.encode(payload, secret, algorithm=algorithm)


def query_hash(params: dict[str, Any]) -> str:
    """A GET's ``payload_hash``: SHA-256 of its query as compact JSON, in order (§6)."""
    text = json.dumps({k: str(v) for k, v in params.items()}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def settings() -> Settings:
    """Settings with verification on and the contract's defaults."""
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of a started app (lifespan run)."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captured records of the webhooks logger from INFO up, starting empty."""
    caplog.set_level(logging.INFO, logger="webhooks")
    caplog.clear()
    return caplog
