"""Outbound calls: ``POST /v1/calls`` placed by the simulator (docs/vonage-protocol.md §8).

The REST API (rest_api/server.py) forwards an accepted ``POST /v1/calls`` to the process
that serves as the dialer (``python -m simulator callee``, or a test). It answers
201 with ``{uuid, status, direction, conversation_uuid}`` as Vonage does, then
runs the call: the answer request to the application's ``answer_url`` (with
``from`` our number and ``to`` the callee), its NCCO, and a simulated callee who
speaks the test signal (or ``--wav``) and checks the echo, as for an inbound call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from typing import Any, Final

from simulator.rest_api.link import ApiCommand
from simulator.vonage.call import Call
from simulator.vonage.context import CallContext
from simulator.vonage.records import CallOptions, CallRecord

__all__ = ["Dialer"]

_E164: Final = re.compile(r"[1-9][0-9]{6,14}")
#: The caller id when the application asks for a random number of its own.
RANDOM_FROM: Final = "447700900999"


class Dialer:
    """Places the calls the application creates through REST; reports each one."""

    def __init__(
        self,
        context: CallContext,
        template: CallOptions,
        on_record: Callable[[CallRecord], None],
    ) -> None:
        self.context = context
        self.template = template
        self.on_record = on_record
        self.tasks: set[asyncio.Task[None]] = set()

    def api_command(self, command: ApiCommand) -> tuple[int, Any]:
        """``create``: 201 and the new call's ids; the call runs in the background."""
        if command.action != "create":
            return 404, {"title": "Not Found", "detail": "the dialer only creates calls"}
        try:
            options = self._options(command.body)
        except ValueError as exc:
            return 400, {"title": "Bad Request", "detail": str(exc)}
        call = Call(options, self.context)
        task = asyncio.create_task(self._run(call))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        record = call.record
        return 201, {
            "uuid": record.uuid,
            "status": "started",
            "direction": "outbound",
            "conversation_uuid": record.conversation_uuid,
        }

    def api_refused(self, request: dict[str, Any]) -> None:
        """A refused create is the application's to see (it got the 401)."""

    async def _run(self, call: Call) -> None:
        self.on_record(await call.run())

    def _options(self, body: Any) -> CallOptions:
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")  # noqa: TRY004 - a 400
        if "ncco" in body:
            raise ValueError("the simulator places calls with an answer_url, not an ncco")
        answer = _one_url(body.get("answer_url"), "answer_url")
        events = _one_url(body.get("event_url"), "event_url") if "event_url" in body else None
        callee = _callee(body.get("to"))
        origin = body.get("from")
        if isinstance(origin, dict) and _E164.fullmatch(str(origin.get("number", ""))):
            caller = str(origin["number"])
        elif body.get("random_from_number") is True and origin is None:
            caller = RANDOM_FROM
        else:
            raise ValueError("from must be {type: phone, number}, or random_from_number true")
        return dataclasses.replace(
            self.template,
            answer_url=answer,
            event_url=events,
            post=body.get("answer_method", "GET") == "POST",
            to=callee,
            caller=caller,
            outbound=True,
        )


def _one_url(value: object, name: str) -> str:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
        raise ValueError(f"{name} must be a list of one URL")
    if not value[0].startswith("https://"):
        raise ValueError(f"{name} must be an https URL")
    return value[0]


def _callee(value: object) -> str:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ValueError("to must be a list of one endpoint")
    endpoint = value[0]
    if endpoint.get("type") == "phone" and _E164.fullmatch(str(endpoint.get("number", ""))):
        return str(endpoint["number"])
    if endpoint.get("type") == "sip" and isinstance(endpoint.get("uri"), str):
        return str(endpoint["uri"])
    raise ValueError("to must be a phone number (E.164 digits) or a sip URI")
