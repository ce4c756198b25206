"""What one simulated call does with the REST requests about it (docs/vonage-protocol.md §8).

- ``hangup``: the call ends as Vonage ends it: the socket is closed from Vonage's
  side, ``completed`` is posted, and no ``disconnected``.
- ``transfer`` to an NCCO: the socket leg is closed from Vonage's side with no
  ``disconnected`` (inferred: Vonage does not document what becomes of the leg),
  a ``transfer`` event is posted, and the new NCCO runs (``talk`` shown,
  ``connect`` opens a new leg).
- ``talk``, ``dtmf``, ``stream``: shown in the report; 200 with ``{message, uuid}``.

The order is strict, as Vonage's: a socket the application closes before its
hang-up has been received gets ``disconnected``, like any other closed socket.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

from simulator.errors import NccoError
from simulator.rest_api.link import ApiCommand
from simulator.vonage.ncco import Action, parse_ncco

__all__ = ["ApiEnd", "CallApi"]

_MESSAGES: Final = {
    "talk": "Talk started",
    "stop_talk": "Talk stopped",
    "stream": "Stream started",
    "stop_stream": "Stream stopped",
    "dtmf": "DTMF sent",
}
_NO_CONTENT: Final = {"mute", "unmute", "earmuff", "unearmuff"}


@dataclass(frozen=True)
class ApiEnd:
    """The application ended the socket leg through REST: how, and what runs next."""

    action: str  # "hangup" or "transfer"
    ncco: list[Action] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)


@dataclass
class CallApi:
    """A call's side of the REST API: its requests, and the end they asked for."""

    uuid: str
    #: Every REST request about this call, refused ones included.
    requests: list[dict[str, Any]] = field(default_factory=list)
    talks: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    #: True while a socket leg is up: what a hangup or a transfer can end.
    live: bool = False
    #: Set by an accepted hangup or transfer; the call flow waits on it with the socket.
    ended: asyncio.Future[ApiEnd] | None = None
    #: Once the call is over, every request is 404.
    over: bool = False

    def start(self) -> None:
        """Called once the call runs (a loop exists)."""
        self.ended = asyncio.get_running_loop().create_future()

    def api_refused(self, request: dict[str, Any]) -> None:
        """A request the API refused (its JWT, ...): listed in the report."""
        self.requests.append(request)

    def api_command(self, command: ApiCommand) -> tuple[int, Any]:
        """Vonage's answer to one request that passed the API's checks."""
        status, body = self._answer(command)
        self.requests.append(command.request | {"status": status})
        return status, body

    def _answer(self, command: ApiCommand) -> tuple[int, Any]:
        action, body = command.action, command.body
        if self.over or self.ended is None:
            return _error(404, "Not Found", f"call {self.uuid} was not found or is not active")
        if action == "get":
            return 200, {"uuid": self.uuid, "status": "answered" if self.live else "started"}
        if action in _NO_CONTENT:
            return 204, None
        if action in ("hangup", "transfer"):
            return self._end(action, body)
        if action in _MESSAGES:
            return self._stream_into(action, body)
        return _error(400, "Bad Request", f"unsupported action {action!r}")

    def _end(self, action: str, body: Any) -> tuple[int, Any]:
        if self.ended is None or self.ended.done():
            return _error(404, "Not Found", f"call {self.uuid} is already ending")
        ncco: list[Action] = []
        if action == "transfer":
            destination = body.get("destination") if isinstance(body, dict) else None
            if not isinstance(destination, dict) or destination.get("type") != "ncco":
                return _error(400, "Bad Request", "destination must be {type: ncco, ...}")
            if "ncco" not in destination:
                return _error(400, "Bad Request", "the simulator transfers to an ncco, not a url")
            try:
                ncco = parse_ncco(destination["ncco"])
            except NccoError as exc:
                return _error(400, "Bad Request", str(exc))
            if not ncco:
                return _error(400, "Bad Request", "the transfer NCCO is empty")
        # Set before the 204 leaves: a socket the application closes after this is
        # the end it asked for, not an accident.
        self.ended.set_result(ApiEnd(action, ncco))
        return 204, None

    def _stream_into(self, action: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, dict) else {}
        if action == "talk":
            text = data.get("text")
            if not isinstance(text, str) or not text:
                return _error(400, "Bad Request", "text is required")
            self.talks.append(text)
        elif action == "dtmf":
            digits = data.get("digits")
            if not isinstance(digits, str) or not digits:
                return _error(400, "Bad Request", "digits is required")
            self.dtmf.append(digits)
        elif action == "stream":
            urls = data.get("stream_url")
            if not isinstance(urls, list) or not urls:
                return _error(400, "Bad Request", "stream_url is required")
            self.streams.append(str(urls[0]))
        return 200, {"message": _MESSAGES[action], "uuid": self.uuid}

    def next_leg(self) -> None:
        """A transfer's new NCCO runs: it can be hung up or transferred again."""
        if self.ended is not None and self.ended.done():
            self.ended = asyncio.get_running_loop().create_future()


def _error(status: int, title: str, detail: str) -> tuple[int, Any]:
    kind = title.lower().replace(" ", "-")
    return status, {
        "type": f"https://developer.vonage.com/api-errors#{kind}",
        "title": title,
        "detail": detail,
    }
