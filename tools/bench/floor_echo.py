"""The floor under every Python server here: uvloop and one function per frame.

``python -m bench.floor_echo PORT`` answers any WebSocket upgrade with a 101 and
sends every binary frame back unmasked, in the loop's ``data_received``: no
WebSocket library, no checks of what a client may send, no close handshake
beyond answering one, no credentials, metrics or logs. It is not a server to
use; it shows what the event loop and the kernel cost per echoed frame, so the
bench can say how much of audio_socket's cost is its own.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import cast

import uvloop
from websockets.speedups import apply_mask
from websockets.utils import accept_key

END_OF_HEAD = b"\r\n\r\n"
CLOSE = 8
BINARY = 2


def accept_for(head: bytes) -> bytes:
    """Sec-WebSocket-Accept for the request head's Sec-WebSocket-Key (websockets computes it)."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return accept_key(value.strip().decode()).encode()
    return b""


class FloorEcho(asyncio.Protocol):
    """Upgrade, then echo binary frames; whatever else arrives is dropped."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.held = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        """Answer the upgrade, then send back each complete binary frame."""
        transport = self.transport
        assert transport is not None
        if self.held:
            data, self.held = self.held + data, b""
        if not self.open:
            head, found, data = data.partition(END_OF_HEAD)
            if not found:
                self.held = head
                return
            transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_for(head) + END_OF_HEAD
            )
            self.open = True
        pos, end = 0, len(data)
        while end - pos >= 2:
            length, header = data[pos + 1] & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, header = data[pos + 2] << 8 | data[pos + 3], 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, header = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            masked = 4 if data[pos + 1] & 0x80 else 0
            frame_end = pos + header + masked + length
            if frame_end > end:
                break
            opcode = data[pos] & 0x0F
            if opcode == BINARY:
                payload = data[pos + header + masked : frame_end]
                if masked:
                    payload = apply_mask(payload, data[pos + header : pos + header + 4])
                out = bytes((0x82, length)) if length < 126 else b"\x82\x7e" + length.to_bytes(2)
                transport.write(out + payload)
            elif opcode == CLOSE:
                transport.write(b"\x88\x00")
                transport.close()
                return
            pos = frame_end
        self.held = data[pos:]


async def main(port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await loop.create_server(FloorEcho, "127.0.0.1", port)
    async with server:
        await stop


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
