"""The simulator's side: Vonage's Voice REST API for its calls (docs/vonage-protocol.md §8).

What it checks as Vonage does: every request carries ``Authorization: Bearer <JWT>``,
RS256 signed by the application's private key (checked with its public key), with
the claims ``application_id`` (this application's), ``iat``, ``jti`` (never seen
before) and ``exp`` (in the future, at most 24 h after ``iat``); else 401.

What it serves, with Vonage's statuses:

- ``PUT /v1/calls/{uuid}``: ``hangup``, ``transfer`` (to an NCCO), ``mute``,
  ``unmute``, ``earmuff``, ``unearmuff`` → 204;
- ``PUT /v1/calls/{uuid}/talk|stream|dtmf`` → 200 ``{message, uuid}``;
  ``DELETE /v1/calls/{uuid}/talk|stream`` → 200;
- ``GET /v1/calls/{uuid}`` → 200; ``POST /v1/calls`` → 201 (an outbound call);
- 404 for a call no simulator process is running.

The calls themselves run in other processes (``simulator call``, ``load`` workers):
each opens a link, a WebSocket on ``/_simulator/link`` authorised by the API's own
token, registers the uuids of its calls, and answers the commands this server
forwards once a request has passed its checks. So one API, on one port the audio
replicas are pointed at when they start, serves every simulator process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from simulator.rest_api.link import LINK_PATH

__all__ = ["ApiRequest", "VoiceApiServer", "verify_application_jwt"]

#: Vonage accepts an ``exp`` of 30 s to 24 h after ``iat``.
MAX_JWT_LIFETIME: Final = 24 * 3600
#: Seconds of clock skew allowed on ``iat``.
LEEWAY: Final = 30
#: How long the simulator process running a call may take to answer a command.
COMMAND_TIMEOUT: Final = 30.0
MAX_BODY_BYTES: Final = 64 * 1024
_CALL_ACTIONS: Final = {"hangup", "transfer", "mute", "unmute", "earmuff", "unearmuff"}
_ERROR_TYPE: Final = "https://developer.vonage.com/api-errors"

log = logging.getLogger("simulator.rest_api")


class Refused(Exception):
    """A request the API refuses: its status and Vonage-style error body."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail

    def response(self) -> JSONResponse:
        """The error as Vonage answers it."""
        kind = self.title.lower().replace(" ", "-")
        body = {"type": f"{_ERROR_TYPE}#{kind}", "title": self.title, "detail": self.detail}
        return JSONResponse(body, status_code=self.status)


@dataclass
class ApiRequest:
    """One REST request received: for the reports."""

    method: str
    path: str
    uuid: str | None
    action: str
    status: int = 0
    #: Why it was refused, if it was.
    error: str | None = None
    #: The verified JWT's claims (application_id, iat, jti, exp), when it verified.
    claims: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, {})}


@dataclass
class SeenTokens:
    """``jti`` values of tokens still within their lifetime: a replay is refused."""

    until: dict[str, float] = field(default_factory=dict)

    def check(self, jti: str, exp: float, now: float) -> None:
        """Remember ``jti`` until ``exp``; Refused if it was already used."""
        if len(self.until) > 10_000:
            self.until = {k: v for k, v in self.until.items() if v > now}
        if self.until.get(jti, 0) > now:
            raise Refused(401, "Unauthorized", "the JWT's jti was already used")
        self.until[jti] = exp


def verify_application_jwt(
    authorization: str | None,
    public_key: str,
    application_id: str,
    now: float,
    seen: SeenTokens,
) -> dict[str, Any]:
    """The claims of a valid application JWT, or ``Refused`` (401) saying why."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "Unauthorized", "Authorization: Bearer <JWT> is required")
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            raise Refused(401, "Unauthorized", "the JWT must be signed with RS256")
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={
                "require": ["application_id", "iat", "jti"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise Refused(401, "Unauthorized", "the JWT's signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Refused(401, "Unauthorized", f"the JWT lacks {exc.claim}") from None
    except jwt.PyJWTError as exc:
        raise Refused(401, "Unauthorized", f"not a valid JWT ({type(exc).__name__})") from None
    _check_times(claims, now)
    if claims.get("application_id") != application_id:
        raise Refused(401, "Unauthorized", "the JWT names another application")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise Refused(401, "Unauthorized", "the JWT's jti must be a string")
    seen.check(jti, float(claims.get("exp") or now + MAX_JWT_LIFETIME), now)
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise Refused(401, "Unauthorized", "the JWT's iat must be a number")
    if iat > now + LEEWAY:
        raise Refused(401, "Unauthorized", "the JWT was issued in the future")
    if exp is None:
        return
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise Refused(401, "Unauthorized", "the JWT's exp must be a number")
    if exp <= now:
        raise Refused(401, "Unauthorized", "the JWT has expired")
    if exp - iat > MAX_JWT_LIFETIME:
        raise Refused(401, "Unauthorized", "the JWT's exp is more than 24 h after its iat")


class _Link:
    """One simulator process's link: commands out, replies back."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.uuids: set[str] = set()
        self.dialer = False
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def fail_pending(self) -> None:
        for future in self.replies.values():
            if not future.done():
                future.set_exception(Refused(404, "Not Found", "the call has ended"))


class VoiceApiServer:
    """The REST API and the links, served by uvicorn over TLS on loopback."""

    def __init__(
        self,
        *,
        application_id: str,
        public_key: str,
        link_token: str,
        certfile: str,
        keyfile: str,
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.application_id = application_id
        self.public_key = public_key
        self._link_token = link_token.encode()
        self.now = now
        self.seen = SeenTokens()
        #: Every REST request received, in order.
        self.requests: list[ApiRequest] = []
        self._owners: dict[str, _Link] = {}
        self._dialers: list[_Link] = []
        self._ids = itertools.count(1)
        self._config = uvicorn.Config(
            self.app(),
            host=host,
            port=port,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=None,
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None

    def app(self) -> Starlette:
        """The route table."""
        return Starlette(
            routes=[
                Route("/v1/calls", self._create_call, methods=["POST"]),
                Route("/v1/calls/{uuid}", self._call, methods=["GET", "PUT"]),
                Route("/v1/calls/{uuid}/{what}", self._stream_into, methods=["PUT", "DELETE"]),
                WebSocketRoute(LINK_PATH, self._link),
            ]
        )

    # Lifecycle

    async def start(self) -> None:
        """Bind and serve; returns once listening."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise RuntimeError("the Voice REST API did not start")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        """The bound port."""
        (server,) = self._server.servers
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the links and stop serving."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # REST

    async def _call(self, request: Request) -> Response:
        uuid = request.path_params["uuid"]
        if request.method == "GET":
            return await self._handle(request, uuid, "get", None)
        body = await self._json(request)
        action = body.get("action") if isinstance(body, dict) else None
        if action not in _CALL_ACTIONS:
            return await self._handle(request, uuid, "invalid", body)
        return await self._handle(request, uuid, str(action), body)

    async def _stream_into(self, request: Request) -> Response:
        uuid, what = request.path_params["uuid"], request.path_params["what"]
        if what not in {"talk", "stream", "dtmf"} or (what == "dtmf" and request.method != "PUT"):
            return Refused(404, "Not Found", f"no such resource: {what}").response()
        body = await self._json(request) if request.method == "PUT" else {}
        action = what if request.method == "PUT" else f"stop_{what}"
        return await self._handle(request, uuid, action, body)

    async def _create_call(self, request: Request) -> Response:
        body = await self._json(request)
        return await self._handle(request, None, "create", body)

    async def _handle(self, request: Request, uuid: str | None, action: str, body: Any) -> Response:
        record = ApiRequest(request.method, request.url.path, uuid, action)
        self.requests.append(record)
        try:
            link = self._check(request, record)
            reply = await self._forward(link, record, body)
        except Refused as exc:
            record.status, record.error = exc.status, exc.detail
            self._tell_owner(record)
            log.info("rest request refused", extra=record.as_dict())
            return exc.response()
        record.status = int(reply.get("status", 500))
        if reply.get("error"):
            record.error = str(reply["error"])
        result = reply.get("body")
        if record.status == 204 or result is None:
            return Response(status_code=record.status)
        return JSONResponse(result, status_code=record.status)

    def _check(self, request: Request, record: ApiRequest) -> _Link:
        """The JWT first, as Vonage: 401 before anything else; then the call's owner."""
        record.claims = verify_application_jwt(
            request.headers.get("authorization"),
            self.public_key,
            self.application_id,
            self.now(),
            self.seen,
        )
        if record.action == "invalid":
            actions = ", ".join(sorted(_CALL_ACTIONS))
            raise Refused(400, "Bad Request", f"action must be one of {actions}")
        uuid = record.uuid
        link = self._dialer() if uuid is None else self._owners.get(uuid)
        if link is None:
            detail = (
                "no simulator is placing calls"
                if uuid is None
                else f"call {uuid} was not found or is not active"
            )
            raise Refused(404, "Not Found", detail)
        return link

    async def _json(self, request: Request) -> Any:
        data = await request.body()
        if len(data) > MAX_BODY_BYTES:
            return None
        try:
            return json.loads(data) if data else {}
        except ValueError:
            return None

    def _dialer(self) -> _Link | None:
        return self._dialers[0] if self._dialers else None

    async def _forward(self, link: _Link, record: ApiRequest, body: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        link.replies[message_id] = future
        command = {"type": "command", "id": message_id, "request": record.as_dict(), "body": body}
        try:
            await link.websocket.send_text(json.dumps(command))
            async with asyncio.timeout(COMMAND_TIMEOUT):
                return await future
        except TimeoutError:
            raise Refused(504, "Gateway Timeout", "the simulated call did not answer") from None
        except (WebSocketDisconnect, RuntimeError):
            raise Refused(404, "Not Found", "the call has ended") from None
        finally:
            link.replies.pop(message_id, None)

    def _tell_owner(self, record: ApiRequest) -> None:
        """A refused request about a call still goes into that call's report."""
        link = self._owners.get(record.uuid or "")
        if link is not None:
            message = json.dumps({"type": "refused", "request": record.as_dict()})
            task = asyncio.ensure_future(link.websocket.send_text(message))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # Links

    async def _link(self, websocket: WebSocket) -> None:
        scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._link_token
        ):
            await websocket.close(code=1008, reason="link token required")
            return
        await websocket.accept()
        link = _Link(websocket)
        try:
            while True:
                self._receive(link, json.loads(await websocket.receive_text()))
        except (WebSocketDisconnect, ValueError, RuntimeError):
            pass
        finally:
            for uuid in link.uuids:
                if self._owners.get(uuid) is link:
                    del self._owners[uuid]
            if link in self._dialers:
                self._dialers.remove(link)
            link.fail_pending()

    def _receive(self, link: _Link, message: Any) -> None:
        if not isinstance(message, dict):
            return
        kind, uuid = message.get("type"), message.get("uuid")
        if kind == "register" and isinstance(uuid, str):
            link.uuids.add(uuid)
            self._owners[uuid] = link
        elif kind == "unregister" and isinstance(uuid, str):
            link.uuids.discard(uuid)
            if self._owners.get(uuid) is link:
                del self._owners[uuid]
        elif kind == "dialer":
            link.dialer = True
            self._dialers.append(link)
        elif kind == "reply":
            future = link.replies.get(message.get("id", -1))
            if future is not None and not future.done():
                future.set_result(message)
