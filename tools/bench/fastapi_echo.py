"""The peer most Python users would write: a FastAPI WebSocket route under uvicorn.

``python -m bench.fastapi_echo PORT WS`` serves ``ws://127.0.0.1:PORT/socket`` with
uvicorn's WebSocket implementation ``WS`` (``websockets``, ``websockets-sansio`` or
``wsproto``) and its other defaults (uvloop and httptools when installed, as here),
and sends every message back as it came, text included, as the tutorial's Node
server does. No credential, no metrics: what the framework costs by itself.
FastAPI and wsproto are the ``bench`` extra's, never the services'.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, WebSocket

#: uvicorn's ``--ws`` choices measured by the bench.
IMPLEMENTATIONS = ("websockets", "websockets-sansio", "wsproto")

app = FastAPI()


@app.websocket("/socket")
async def echo(websocket: WebSocket) -> None:
    """Accept, then send each message back until the peer leaves."""
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if (data := message.get("bytes")) is not None:
            await websocket.send_bytes(data)
        elif (text := message.get("text")) is not None:
            await websocket.send_text(text)


def main(port: int, ws: str) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn's own handling)."""
    if ws not in IMPLEMENTATIONS:
        raise SystemExit(f"WS must be one of {', '.join(IMPLEMENTATIONS)}, not {ws!r}")
    uvicorn.run(app, host="127.0.0.1", port=port, ws=ws, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m bench.fastapi_echo PORT WS")
    main(int(sys.argv[1]), sys.argv[2])
