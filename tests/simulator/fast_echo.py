"""A bare WebSocket echo for measuring the simulator, not a server to copy.

A load run needs a peer that costs less than the simulator itself, or it
measures the peer: this one is an asyncio Protocol that does the upgrade, then
unmasks each binary frame (websockets' C ``apply_mask``) and writes it back in
one call. Text frames are dropped, pings answered, a close is returned. It does
no checking a real server must do.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import struct

from websockets.speedups import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BINARY, CLOSE, PING, PONG = 0x2, 0x8, 0x9, 0xA


class EchoProtocol(asyncio.Protocol):
    """One connection: handshake, then echo binary frames."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Handshake, then as many whole frames as arrived."""
        self.buffer += data
        if not self.upgraded and not self._handshake():
            return
        self._frames()

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        key = ""
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()  # noqa: S324 (RFC 6455)
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        self.upgraded = True
        return True

    def _frames(self) -> None:
        buffer, transport = self.buffer, self.transport
        assert transport is not None
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + 4 + length:
                return
            mask = bytes(buffer[start : start + 4])
            payload = apply_mask(bytes(buffer[start + 4 : start + 4 + length]), mask)
            del buffer[: start + 4 + length]
            if opcode == BINARY:
                transport.write(_header(BINARY, length) + payload)
            elif opcode == PING:
                transport.write(_header(PONG, length) + payload)
            elif opcode == CLOSE:
                transport.write(_header(CLOSE, length) + payload)
                transport.close()
                return


def _header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, length)
    return struct.pack("!BBQ", 0x80 | opcode, 127, length)


async def start_echo(
    host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
) -> asyncio.Server:
    """Listen (TLS with ``ssl_context``); the caller closes the server."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(EchoProtocol, host, port, ssl=ssl_context)
