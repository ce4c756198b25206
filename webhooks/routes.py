"""The routes: short, each reading, checking, then answering with an NCCO.

Every URL they put in an NCCO comes from ``PUBLIC_HOST``; nothing here reads the
request's ``Host`` or ``X-Forwarded-*`` headers (docs/architecture.md, "public host").
"""

from __future__ import annotations

import dataclasses
import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from webhooks.answer_metadata import call_metadata_hook, load_metadata_hook
from webhooks.call_fields import CallFields, Direction
from webhooks.credentials import SocketCredentials
from webhooks.errors import MethodRefused
from webhooks.events import CallEvent, Reply, parse_error_report, parse_event, plan_reply
from webhooks.metrics import CONTENT_TYPE, Metrics
from webhooks.ncco import Action, NccoBuilder
from webhooks.payloads import parse_params, read_body
from webhooks.replay import ReplayCache
from webhooks.settings import Settings
from webhooks.signatures import SignatureVerifier

__all__ = ["Webhooks"]

log = logging.getLogger("webhooks")


class Webhooks:
    """The service's endpoints, sharing the objects built once from the settings."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.stats = metrics
        self.ncco = NccoBuilder.from_settings(settings)
        self.credentials = SocketCredentials(
            secret=settings.socket_token_secret.get_secret_value().encode(),
            ttl=settings.socket_token_ttl,
        )
        self.verifier = _verifier(settings)
        # A GET's parameters are its query, which Vonage's documented signature does
        # not cover (docs/security.md): refused unless the deployer opts in.
        self.refuse_get = self.verifier is not None and not settings.webhooks_allow_get
        self.ready = False
        #: ANSWER_METADATA's function (answer_metadata.py), if set.
        self.metadata_hook = (
            load_metadata_hook(settings.answer_metadata) if settings.answer_metadata else None
        )

    async def answer(self, request: Request) -> Response:
        """The answer webhook: greeting, then connect to the audio socket (§1, §2)."""
        return await self._answer(request, "inbound")

    async def answer_outbound(self, request: Request) -> Response:
        """The answer webhook of a call we dialled (``python -m webhooks dial``).

        The answer request names no direction (docs/vonage-protocol.md §1), so the
        dialled call's ``answer_url`` is this route: the connect's caller id is then
        our ``from``, not the callee's number.
        """
        return await self._answer(request, "outbound")

    async def _answer(self, request: Request, direction: Direction) -> Response:
        params = await self._receive(request)
        fields = CallFields.from_answer(params, direction)
        if self.metadata_hook is not None:
            metadata = await call_metadata_hook(self.metadata_hook, params, fields.call_uuid)
            fields = dataclasses.replace(fields, metadata=metadata)
        # Vonage opens the socket once the greeting has played (docs/vonage-protocol.md §6).
        credential = self.credentials.mint(
            fields.call_uuid, 1, delay=self.ncco.greeting_seconds, region=fields.region
        )
        ours = params.get("from") if direction == "outbound" else params.get("to")
        ncco = self.ncco.build_answer_ncco(fields, ours, credential)
        log.info(
            "call answered",
            extra={"uuid": fields.call_uuid, "method": request.method, "direction": direction},
        )
        return JSONResponse(ncco)

    async def events(self, request: Request) -> Response:
        """The event webhook: log the event; reconnect or apologise for a lost socket (§4)."""
        params = await self._receive(request)
        if (error := parse_error_report(params)) is not None:
            # Vonage could not run an NCCO of this call; the call flow has moved on.
            self.stats.observe_event("error", Reply.CARRY_ON)
            log.warning(
                "vonage reported an error",
                extra={"reason": error.reason, "conversation_uuid": error.conversation_uuid},
            )
            return Response(status_code=int(HTTPStatus.NO_CONTENT))
        event = parse_event(params, self.ncco.socket_uri)
        reply = plan_reply(event, self.settings.reconnect_attempts)
        self.stats.observe_event(event.status, reply)
        log.info("call event", extra=_event_fields(event, reply))
        ncco = self._reply_ncco(event, reply)
        if ncco is None:
            # Any 2xx is success (§1) and an empty answer leaves the NCCO running (§2).
            return Response(status_code=int(HTTPStatus.NO_CONTENT))
        return JSONResponse(ncco)

    async def healthz(self, request: Request) -> Response:
        """200 once started, 503 before start-up completes and while shutting down."""
        if self.ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse(
            {"status": "not ready"}, status_code=int(HTTPStatus.SERVICE_UNAVAILABLE)
        )

    async def metrics(self, request: Request) -> Response:
        """Prometheus text exposition (not routed by Caddy)."""
        return Response(self.stats.render(), media_type=CONTENT_TYPE)

    async def _receive(self, request: Request) -> dict[str, Any]:
        # The signature covers the body exactly as received, so it is checked before
        # the body is parsed, and nothing is acted on before it passes (§6).
        get = request.method in {"GET", "HEAD"}
        if get and self.refuse_get:
            raise MethodRefused(
                "GET webhooks are refused while signatures are checked: a GET's signature"
                " does not cover its query. Set the application's answer and event methods"
                " to POST, or WEBHOOKS_ALLOW_GET=true"
            )
        body = await read_body(request)
        if self.verifier is not None:
            query = request.query_params.multi_items() if get else None
            self.verifier.verify(request.headers.get("authorization"), body, query=query)
        return parse_params(request, body)

    def _reply_ncco(self, event: CallEvent, reply: Reply) -> list[Action] | None:
        leg = event.socket_leg
        if reply is Reply.RECONNECT and leg is not None:
            attempt = leg.attempt + 1
            fields = leg.fields or CallFields(leg.call_uuid)
            credential = self.credentials.mint(leg.call_uuid, attempt, region=fields.region)
            return self.ncco.build_reconnect_ncco(fields, attempt, event.caller, credential)
        if reply is Reply.APOLOGY:
            return self.ncco.build_apology_ncco()
        return None


def _verifier(settings: Settings) -> SignatureVerifier | None:
    secret = settings.vonage_signature_secret
    if not settings.verify_signatures or secret is None:
        return None
    max_age = settings.signature_max_age
    # A token is fresh for max_age either side of its iat: kept that long, twice.
    replay = ReplayCache(keep=2 * max_age, max_entries=settings.signature_jti_cache_size)
    return SignatureVerifier(
        secret.get_secret_value().encode(),
        max_age,
        clock_skew=settings.signature_clock_skew,
        replay=replay,
    )


def _event_fields(event: CallEvent, reply: Reply) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": event.status,
        "uuid": event.uuid,
        "conversation_uuid": event.conversation_uuid,
        "direction": event.direction,
        "reply": reply.value,
    }
    if event.duration is not None:
        fields["duration"] = event.duration
    if event.socket_leg is not None:
        fields["call_uuid"] = event.socket_leg.call_uuid
        fields["attempt"] = event.socket_leg.attempt
    return fields
