"""The webhooks service's exceptions, and the one place they become HTTP answers.

Hierarchy::

    ConfigurationError              start-up: bad or missing variables (exit status 2);
                                    shared with the audio service (app_credentials)
    WebhooksError
    └── RequestError                a request we refuse; carries its HTTP status
        ├── BadRequest              400: malformed JSON, wrong content type, missing uuid
        ├── BodyTooLarge            413: body over the limit
        ├── BodyTimeout             408: the body did not arrive in time
        ├── MethodRefused           405: GET while signatures are checked (WEBHOOKS_ALLOW_GET)
        ├── SignatureRejected       401: signed-webhook check failed (docs/vonage-protocol.md §6)
        └── ReplayCacheFull         503: the jti replay cache has no room (docs/security.md)

Anything else escaping a handler is a bug; ``internal_error_response`` answers it
with 503 rather than 500, which Vonage retries on the answer URL
(docs/vonage-protocol.md §1) and which never carries a traceback to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import ClassVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "BadRequest",
    "BodyTimeout",
    "BodyTooLarge",
    "MethodRefused",
    "ReplayCacheFull",
    "RequestError",
    "SignatureRejected",
    "WebhooksError",
    "error_response",
    "handle_http_exception",
    "handle_request_error",
    "internal_error_response",
]

log = logging.getLogger("webhooks")


class WebhooksError(Exception):
    """Root of every exception this package raises on purpose."""


class RequestError(WebhooksError):
    """A request the service refuses; ``code`` is a stable machine-readable reason."""

    status: ClassVar[HTTPStatus] = HTTPStatus.BAD_REQUEST
    code: ClassVar[str] = "bad_request"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class BadRequest(RequestError):
    """The request is not something Vonage would send: 400."""


class BodyTooLarge(RequestError):
    """The body is larger than the service accepts: 413."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "body_too_large"


class BodyTimeout(RequestError):
    """The body did not arrive within the read timeout: 408, and the connection closed
    (else the server would go on reading the trickle to reuse it)."""

    status = HTTPStatus.REQUEST_TIMEOUT
    code = "body_timeout"
    headers: ClassVar[Mapping[str, str]] = MappingProxyType({"Connection": "close"})


class MethodRefused(RequestError):
    """A GET webhook while signatures are checked and WEBHOOKS_ALLOW_GET is off: 405."""

    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"
    headers: ClassVar[Mapping[str, str]] = MappingProxyType({"Allow": "POST"})


class ReplayCacheFull(RequestError):
    """Every slot of the jti replay cache is live: 503, which Vonage retries on the answer."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "replay_cache_full"


class SignatureRejected(RequestError):
    """The signed-webhook JWT is missing or does not verify: 401."""

    status = HTTPStatus.UNAUTHORIZED
    code = "invalid_signature"
    headers: ClassVar[Mapping[str, str]] = MappingProxyType({"WWW-Authenticate": "Bearer"})


def error_response(
    status: HTTPStatus, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every refusal uses: ``{"error": code, "detail": detail}``."""
    return JSONResponse(
        {"error": code, "detail": detail}, status_code=int(status), headers=dict(headers or {})
    )


def internal_error_response() -> JSONResponse:
    """A bug's answer: 503 with no detail, so nothing internal leaks."""
    return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "internal_error", "unexpected error")


async def handle_request_error(request: Request, exc: Exception) -> Response:
    """Starlette handler for ``RequestError``."""
    if not isinstance(exc, RequestError):  # pragma: no cover - registered for RequestError only
        return internal_error_response()
    # One lifecycle line per refusal, with its reason; never the token or the body.
    log.warning(
        "request refused",
        extra={
            "path": request.scope["path"],
            "status": exc.status.value,
            "error": exc.code,
            "detail": exc.detail,
        },
    )
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette handler for the router's own 404 and 405, as JSON like every other error."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        return internal_error_response()
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "_")
    return error_response(status, code, exc.detail, exc.headers)
