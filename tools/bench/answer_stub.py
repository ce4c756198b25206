"""A stand-in answer webhook for servers that have none of ours (Node, the minimal echo).

The simulator places calls through an answer webhook; the servers compared with
audio_socket have no usable one (the Node tutorial's NCCO names ``wss://`` on
its own host and an invalid ``from``). This stub answers every call with a
``connect`` to ``--socket URI`` — with the per-call credential of
docs/contract.md when ``SOCKET_TOKEN_SECRET`` is set, so audio_socket can be
driven directly without webhooks and Caddy — and accepts every event. It runs
on the load generator's core and is idle once calls are up.

``python -m bench.answer_stub --socket ws://127.0.0.1:PORT/socket --port PORT``
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONTENT_TYPE = "audio/l16;rate=16000"
TOKEN_TTL = 600


def build_ncco(uri: str, call_uuid: str, events_url: str, secret: str | None) -> list[Any]:
    """One synchronous connect to ``uri``, as our webhooks build it (with a credential)."""
    endpoint: dict[str, Any] = {
        "type": "websocket",
        "uri": uri,
        "content-type": CONTENT_TYPE,
        "headers": {"call_uuid": call_uuid, "attempt": 1},
    }
    if secret is not None:
        now = int(time.time())
        claims = {
            "sub": call_uuid,
            "aud": "audio_socket",
            "iss": "webhooks",
            "iat": now,
            "exp": now + TOKEN_TTL,
            "jti": secrets.token_hex(8),
            "attempt": 1,
        }
        token = jwt.encode(claims, secret, algorithm="HS256")
        endpoint["authorization"] = {"type": "custom", "value": f"Bearer {token}"}
    return [{"action": "connect", "endpoint": [endpoint], "eventUrl": [events_url]}]


def build_app(uri: str, secret: str | None) -> Starlette:
    """``/webhooks/answer`` (GET or POST) and ``/webhooks/events``."""

    async def answer(request: Request) -> Response:
        fields = dict(request.query_params)
        if request.method == "POST":
            fields |= await request.json()
        events_url = str(request.url_for("events"))
        return JSONResponse(build_ncco(uri, fields.get("uuid", ""), events_url, secret))

    async def events(_request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/webhooks/answer", answer, methods=["GET", "POST"]),
            Route("/webhooks/events", events, methods=["GET", "POST"], name="events"),
        ]
    )


def main() -> None:
    """Serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m bench.answer_stub")
    parser.add_argument("--socket", required=True, help="ws:// or wss:// URI to connect calls to")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_app(args.socket, os.environ.get("SOCKET_TOKEN_SECRET") or None)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
