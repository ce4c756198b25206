"""A simulator process's link to the Voice REST API (``server.py``).

The API checks each request (TLS, the application JWT) and forwards it here, to
the process running the call; the call answers with Vonage's status and body
(``ApiTarget.api_command``). ``delay`` holds every answer back that many seconds:
a slow Vonage, for showing that it slows no other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any, Final, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from simulator.errors import SimulatorError

__all__ = ["LINK_PATH", "ApiCommand", "ApiLink", "ApiTarget"]

#: Where the Voice REST API (server.py) serves the links.
LINK_PATH: Final = "/_simulator/link"

log = logging.getLogger("simulator.rest_link")


@dataclass(frozen=True)
class ApiCommand:
    """One REST request that passed the API's checks, for the call it names."""

    action: str
    body: Any
    #: The request as the API recorded it (method, path, claims, ...): for the report.
    request: dict[str, Any]


class ApiTarget(Protocol):
    """A call that answers REST commands."""

    def api_command(self, command: ApiCommand) -> tuple[int, Any]:
        """Act on ``command`` now; Vonage's status and JSON body (None: no body)."""
        ...

    def api_refused(self, request: dict[str, Any]) -> None:
        """A request about this call that the API refused (a bad JWT, ...)."""
        ...


class ApiLink:
    """The WebSocket to the API: registers calls, answers the commands for them."""

    def __init__(
        self, url: str, token: str, ssl_context: ssl.SSLContext, delay: float = 0.0
    ) -> None:
        self.url = url.rstrip("/").replace("https://", "wss://", 1) + LINK_PATH
        self._token = token
        self._ssl = ssl_context
        self.delay = delay
        self._targets: dict[str, ApiTarget] = {}
        self._dialer: ApiTarget | None = None
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Connect; SimulatorError when the API cannot be reached."""
        try:
            self._socket = await connect(
                self.url,
                ssl=self._ssl,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=10,
                ping_interval=None,
                compression=None,
                proxy=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise SimulatorError(f"cannot reach the Voice REST API at {self.url}: {exc}") from exc
        self._reader = asyncio.create_task(self._read(self._socket))

    async def close(self) -> None:
        """Disconnect; commands still being answered are dropped."""
        for task in (self._reader, *self._answers):
            if task is not None:
                task.cancel()
        if self._socket is not None:
            await self._socket.close()

    async def register(self, uuid: str, target: ApiTarget) -> None:
        """Requests about ``uuid`` go to ``target`` from now on."""
        self._targets[uuid] = target
        await self._send({"type": "register", "uuid": uuid})

    async def unregister(self, uuid: str) -> None:
        """The call is over: the API answers 404 for it from now on."""
        self._targets.pop(uuid, None)
        with contextlib.suppress(ConnectionClosed):
            await self._send({"type": "unregister", "uuid": uuid})

    async def serve_dialer(self, target: ApiTarget) -> None:
        """``POST /v1/calls`` comes to ``target`` (it places the outbound calls)."""
        self._dialer = target
        await self._send({"type": "dialer"})

    async def _send(self, message: dict[str, Any]) -> None:
        if self._socket is None:
            raise SimulatorError("the Voice REST API link is not open")
        await self._socket.send(json.dumps(message))

    async def _read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in socket:
                message = json.loads(text)
                if message.get("type") == "command":
                    task = asyncio.create_task(self._answer(message))
                    self._answers.add(task)
                    task.add_done_callback(self._answers.discard)
                elif message.get("type") == "refused":
                    target = self._targets.get(message["request"].get("uuid") or "")
                    if target is not None:
                        target.api_refused(message["request"])

    async def _answer(self, message: dict[str, Any]) -> None:
        request = message.get("request", {})
        uuid = request.get("uuid")
        target = self._dialer if uuid is None else self._targets.get(uuid)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if target is None:
            status: int = 404
            body: Any = {"title": "Not Found", "detail": f"call {uuid} is not active"}
        else:
            command = ApiCommand(str(request.get("action")), message.get("body"), request)
            status, body = target.api_command(command)
        reply = {"type": "reply", "id": message["id"], "status": status, "body": body}
        with contextlib.suppress(ConnectionClosed):
            await self._send(reply)
