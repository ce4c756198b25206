"""Reading a webhook request: its body within a limit, then its parameters.

Vonage sends the answer and event webhooks as a query string (GET) or a JSON object
(POST), depending on the application's ``answer_method``/``event_method``
(docs/vonage-protocol.md §1, §5). Unknown parameters are kept and ignored downstream.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request

from webhooks.errors import BadRequest, BodyTimeout, BodyTooLarge

__all__ = ["BODY_TIMEOUT", "MAX_BODY_BYTES", "parse_params", "read_body", "require_uuid"]

MAX_BODY_BYTES = 64 * 1024
# Vonage's event read timeout is at most 10 s (docs/vonage-protocol.md §1): a body still
# arriving after that is no webhook. Caddy buffers bodies and cuts slow ones first
# (caddy/Caddyfile); this bounds a client that reaches the service directly.
BODY_TIMEOUT = 10.0
_JSON_MEDIA_TYPE = "application/json"
# Vonage's uuids are hex with dashes; anything printable and short is accepted, but
# nothing that could swell the endpoint headers past 512 bytes (docs/vonage-protocol.md §2).
_UUID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def read_body(
    request: Request,
    limit: int = MAX_BODY_BYTES,
    timeout: float = BODY_TIMEOUT,  # noqa: ASYNC109 - the caller's bound, applied inside
) -> bytes:
    """The body as received, refusing (413) before holding more than ``limit`` bytes,
    and (408) when it takes longer than ``timeout`` seconds."""
    declared = request.headers.get("content-length")
    # A malformed length is left to the streamed count below (uvicorn rejects most first).
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    try:
        async with asyncio.timeout(timeout):
            return await _read_chunks(request, limit)
    except TimeoutError:
        raise BodyTimeout(f"body not received within {timeout:g} s") from None
    except ClientDisconnect:
        raise BadRequest("client disconnected before the body was complete") from None


async def _read_chunks(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_params(request: Request, body: bytes) -> dict[str, Any]:
    """The webhook's parameters: the query string for GET, the JSON object for POST."""
    if request.method in {"GET", "HEAD"}:
        return dict(request.query_params)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != _JSON_MEDIA_TYPE:
        raise BadRequest(f"Content-Type must be {_JSON_MEDIA_TYPE}")
    if not body:
        raise BadRequest("a JSON body is required")
    try:
        params = json.loads(body)
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long
        raise BadRequest(f"malformed JSON: {_first_line(exc)}") from None
    if not isinstance(params, dict):
        raise BadRequest("the JSON body must be an object")
    return params


def require_uuid(params: Mapping[str, Any]) -> str:
    """The call leg's ``uuid``, which every Vonage webhook carries (§1, §5)."""
    uuid = params.get("uuid")
    if uuid is None or uuid == "":
        raise BadRequest("uuid is required")
    if not isinstance(uuid, str) or not _UUID_RE.fullmatch(uuid):
        raise BadRequest("uuid must be a string of up to 128 letters, digits, '-', '.', ':' or '_'")
    return uuid


def _first_line(exc: ValueError) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
