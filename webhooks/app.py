"""The Starlette application: a route table built by a factory from the settings."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhooks.errors import (
    RequestError,
    handle_http_exception,
    handle_request_error,
    internal_error_response,
)
from webhooks.metrics import Metrics
from webhooks.routes import Webhooks
from webhooks.settings import Settings

__all__ = ["ObserveMiddleware", "create_app"]

log = logging.getLogger("webhooks")


def create_app(settings: Settings) -> Starlette:
    """The webhooks service for ``settings``; each app has its own metrics registry."""
    metrics = Metrics()
    webhooks = Webhooks(settings, metrics)
    routes = [
        Route("/webhooks/answer", webhooks.answer, methods=["GET", "POST"]),
        Route("/webhooks/answer/outbound", webhooks.answer_outbound, methods=["GET", "POST"]),
        Route("/webhooks/events", webhooks.events, methods=["POST", "GET"]),
        Route("/healthz", webhooks.healthz, methods=["GET"]),
        Route("/metrics", webhooks.metrics, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "webhooks started",
            extra={
                "public_host": settings.public_host,
                "verify_signatures": settings.verify_signatures,
                "allow_get": settings.webhooks_allow_get,
                "audio_sample_rate": settings.audio_sample_rate,
                "reconnect_attempts": settings.reconnect_attempts,
            },
        )
        if not settings.verify_signatures:
            log.warning(
                "signed-webhook verification is off (VONAGE_VERIFY_SIGNATURES=false): "
                "anyone who can reach /webhooks/* gets an audio socket credential"
            )
        elif settings.webhooks_allow_get:
            log.warning(
                "WEBHOOKS_ALLOW_GET=true: Vonage documents payload_hash as the hash of the"
                " body, and a GET has none; its query is checked only as one Vonage support"
                " article describes (a hash of the query as JSON), and a GET whose signature"
                " lacks payload_hash is refused. Prefer POST (docs/security.md)"
            )
        webhooks.ready = True
        yield
        webhooks.ready = False
        log.info("webhooks stopping")

    app = Starlette(
        routes=routes,
        middleware=[Middleware(ObserveMiddleware, metrics=metrics)],
        exception_handlers={
            RequestError: handle_request_error,
            HTTPException: handle_http_exception,
        },
        lifespan=lifespan,
    )
    # The slash redirect would build its Location from the caller's Host header.
    app.router.redirect_slashes = False
    return app


class ObserveMiddleware:
    """Times and counts every request, and turns any stray exception into a 503."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            # A bug, not a caller's fault: log it, answer without detail, never 500.
            log.exception("unexpected error", extra={"path": scope["path"][:100]})
            if status == 0:
                status = 503
                await internal_error_response()(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(scope["path"], scope["method"], status, elapsed)
