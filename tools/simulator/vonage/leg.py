"""The WebSocket leg: Vonage opening the socket as a client (docs/vonage-protocol.md §3).

The upgrade carries the endpoint's ``authorization``; the first message is text
JSON ``{"event": "websocket:connected", "content-type": ..., <headers>}``; then
audio goes out as binary 20 ms frames and comes back the same way. Each binary
message back must be exactly one 20 ms frame at the call's rate (§3): any other
size closes the socket with 1007, as Vonage stops listening to such a socket
(``lenient_frames`` only counts them).

Binary messages bypass websockets' message queue: :class:`AudioConnection`
hands each one straight to the call's matcher as it is parsed, which keeps the
receive path to one function call per frame at hundreds of calls. Frames are
sent synchronously from the pacer, as ``websockets.asyncio.server.broadcast``
does, with no task or await per frame.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Callable
from typing import Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Event, State

from simulator.audio import frame_bytes
from simulator.errors import LegError
from simulator.net import describe_failure
from simulator.vonage.ncco import WebsocketEndpoint
from simulator.vonage.stream import BytesLike

OPEN_TIMEOUT = 60.0  # the connect action's `timeout` default (docs/vonage-protocol.md §2)
# The `detail` of a leg that could not be opened (docs/vonage-protocol.md §4). Which
# code Vonage gives which WebSocket failure is not documented (assumed): a socket that
# cannot be reached is `cannot_route` (LegError's default), one that answers but refuses
# or never completes the upgrade is `unavailable`.
REFUSED = "unavailable"
CLOSE_TIMEOUT = 2.0
# A peer that stops reading: ~4 s of 16 kHz audio queued. Vonage would not buffer forever.
MAX_WRITE_BUFFER = 128 * 1024


class AudioConnection(ClientConnection):
    """A client connection whose binary messages go straight to ``audio_sink``.

    Control messages (``clear``, ``notify``) go to ``control_sink`` the same way,
    so that the playout model sees them in their place among the audio frames
    (websockets' message queue would hand them over only after later frames).
    """

    audio_sink: Callable[[BytesLike], None] | None = None
    #: Takes a text message; True when it was a control message it acted on.
    control_sink: Callable[[str], bool] | None = None
    stalled = False
    controls = 0
    #: The only size a binary message may have: one 20 ms frame at the call's rate.
    frame_size = 0
    #: Count wrong-size messages and take them anyway, instead of closing with 1007.
    lenient_frames = False
    #: Binary messages of the wrong size, and the size of the first one.
    wrong_size = 0
    first_wrong_size: int | None = None
    #: Why the simulator closed the socket itself (a wrong-size message), if it did.
    refused: str | None = None

    def process_event(self, event: Event) -> None:
        """Hand whole binary messages to the sink; everything else as usual."""
        if isinstance(event, Frame) and event.fin:
            if event.opcode is Opcode.BINARY and self.audio_sink is not None:
                if len(event.data) == self.frame_size or self.accepts(event.data):
                    self.audio_sink(event.data)
                return
            if event.opcode is Opcode.TEXT and self.control_sink is not None:
                try:
                    text = bytes(event.data).decode()
                except UnicodeDecodeError:
                    text = None  # websockets fails the connection on it
                if text is not None and self.control_sink(text):
                    self.controls += 1
                    return
        super().process_event(event)

    def accepts(self, message: BytesLike) -> bool:
        """Whether a binary message may be heard: one whole frame, or ``lenient_frames``.

        docs/vonage-protocol.md §3: Vonage requires each message to be one 20 ms frame
        and stops listening to a socket that sends another size; the first such
        message closes the socket with 1007 (invalid payload), and nothing after it
        is heard. The call then goes on as for any socket closed under it (§4).
        """
        size = len(message)
        if size == self.frame_size:
            return self.refused is None
        self.wrong_size += 1
        if self.first_wrong_size is None:
            self.first_wrong_size = size
        if self.lenient_frames:
            return True
        if self.refused is None:
            self.audio_sink = None  # from now on every message goes through here: unheard
            self.refused = (
                f"a binary message of {size} bytes, when each must be one 20 ms frame of"
                f" {self.frame_size} bytes"
            )
            reason = f"frame of {size} bytes, expected {self.frame_size}"
            closing = asyncio.get_running_loop().create_task(
                self.close(CloseCode.INVALID_DATA, reason)
            )
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)
        return False

    def send_frame(self, frame: bytes) -> bool:
        """Send one binary message now, without awaiting; False if not open."""
        if self.protocol.state is not State.OPEN or self.transport.is_closing():
            return False
        self.protocol.send_binary(frame)
        self.send_data()
        return True

    def send_text_now(self, text: str) -> bool:
        """Send one text message now, without awaiting; False if not open."""
        if self.protocol.state is not State.OPEN or self.transport.is_closing():
            return False
        self.protocol.send_text(text.encode())
        self.send_data()
        return True

    def check_buffer(self) -> None:
        """Abort the connection when the peer has stopped reading."""
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.stalled = True
            self.transport.abort()


_closing: set[asyncio.Task[None]] = set()


@functools.cache
def connection_class(frame_size: int, lenient_frames: bool) -> type[AudioConnection]:
    """An :class:`AudioConnection` that checks for this frame size from its first byte."""
    attributes = {"frame_size": frame_size, "lenient_frames": lenient_frames}
    return cast(type[AudioConnection], type("AudioConnection", (AudioConnection,), attributes))


async def open_leg(
    endpoint: WebsocketEndpoint,
    *,
    authorization: str | None,
    ssl_context: ssl.SSLContext,
    open_timeout: float = OPEN_TIMEOUT,
    lenient_frames: bool = False,
) -> AudioConnection:
    """Upgrade to the endpoint and send the first message; LegError when it fails."""
    headers = {"Authorization": authorization} if authorization else None
    secure = endpoint.uri.startswith("wss:")
    try:
        connection = await connect(
            endpoint.uri,
            additional_headers=headers,
            user_agent_header="Vonage-Simulator",
            compression=None,
            proxy=None,
            open_timeout=open_timeout,
            ping_interval=None,
            close_timeout=CLOSE_TIMEOUT,
            create_connection=connection_class(frame_bytes(endpoint.rate), lenient_frames),
            ssl=ssl_context if secure else None,
        )
    except InvalidStatus as exc:
        raise LegError(
            f"upgrade refused: HTTP {exc.response.status_code} from {endpoint.uri}",
            detail=REFUSED,
        ) from exc
    except InvalidURI as exc:
        raise LegError(f"invalid socket URI {endpoint.uri}") from exc
    except WebSocketException as exc:
        raise LegError(
            f"WebSocket handshake with {endpoint.uri} failed: {exc}", detail=REFUSED
        ) from exc
    except TimeoutError as exc:
        raise LegError(
            f"timed out opening {endpoint.uri} after {open_timeout:g} s",
            status="unanswered",
            detail=REFUSED,
        ) from exc
    except OSError as exc:
        raise LegError(describe_failure(exc, endpoint.uri)) from exc
    connection = cast(AudioConnection, connection)  # create_connection above
    try:
        await connection.send(json.dumps(first_message(endpoint)))
    except ConnectionClosed as exc:
        raise LegError(f"{endpoint.uri} closed before the first message") from exc
    return connection


def first_message(endpoint: WebsocketEndpoint) -> dict[str, Any]:
    """``websocket:connected`` with the content type and the headers at the top level."""
    fixed = {"event": "websocket:connected", "content-type": endpoint.content_type}
    extra = {k: v for k, v in endpoint.headers.items() if k not in fixed}
    return fixed | extra


async def serve_text(connection: AudioConnection, on_audio: Callable[[BytesLike], None]) -> int:
    """Read until the socket closes; the number of text messages.

    Control messages (``clear``, ``notify``) never get here: the playout model
    answers them as they arrive (``control_sink``, ``playout.py``). Any other
    text is counted and ignored (docs/vonage-protocol.md §3).
    """
    texts = 0
    try:
        async for message in connection:
            if isinstance(message, bytes):
                if connection.accepts(message):
                    on_audio(message)  # a fragmented binary message, assembled
                continue
            texts += 1
    except ConnectionClosed:
        pass
    return texts + connection.controls
