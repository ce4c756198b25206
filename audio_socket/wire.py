"""WebSocket bytes in and out, with a short cut for the one frame audio uses.

websockets' Sans-I/O ``ServerProtocol`` is the protocol implementation: the
handshake, control frames, fragmentation, the closing handshake and every
error. Its frame parser is a chain of generators, though, and an audio call
sends 50 frames a second that all look alike: one complete, masked,
unfragmented binary frame (RFC 6455 §5.2, §5.3). :class:`FrameReader` takes
exactly those itself, whole, while websockets would accept them without any
check failing, and hands every other byte to the protocol unchanged, in order.
The property tests show the two give the same events and the same output for
any byte stream split any way.

On the way out a server frame is unmasked (§5.1), so a binary frame is a fixed
header and the payload: :func:`binary_header` builds what ``Frame.serialize``
would.
"""

from __future__ import annotations

from typing import Final

from websockets.protocol import CONNECTING, OPEN, Protocol
from websockets.server import ServerProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

#: FIN set, no RSV bits, opcode 2 (binary): the first byte of an audio frame.
_FIN_BINARY: Final = 0x82
_MASK_BIT: Final = 0x80
#: FIN set, no RSV bits, opcode 8 (close): a well-formed close frame's first byte.
_FIN_CLOSE: Final = 0x88
_LENGTH_16: Final = 126
_LENGTH_64: Final = 127
#: Second byte and header size of a masked frame with a 16-bit length.
_MASKED_LENGTH_16: Final = _MASK_BIT | _LENGTH_16
_SHORT_HEADER: Final = 8
_MAX_LENGTH_16: Final = (1 << 16) - 1
#: The end of an HTTP request's head: a WebSocket upgrade has no body.
_END_OF_HEAD: Final = b"\r\n\r\n"
#: The longest frame header: 2 bytes, a 64-bit length, a 4-byte mask.
MAX_HEADER_BYTES: Final = 14


def binary_header(size: int) -> bytes:
    """The header of an unmasked, final binary frame carrying ``size`` bytes."""
    if size < _LENGTH_16:
        return bytes((_FIN_BINARY, size))
    if size < 1 << 16:
        return bytes((_FIN_BINARY, _LENGTH_16)) + size.to_bytes(2, "big")
    return bytes((_FIN_BINARY, _LENGTH_64)) + size.to_bytes(8, "big")


def frame_size(data: bytes, start: int) -> int | None:
    """The whole size of the client frame that begins at ``data[start]``.

    ``None`` while its header is incomplete. Masked or not, as the header says.
    """
    available = len(data) - start
    if available < 2:
        return None
    second = data[start + 1]
    length = second & 0x7F
    size = 2 + (4 if second & _MASK_BIT else 0)
    if length == _LENGTH_16:
        if available < 4:
            return None
        length = int.from_bytes(data[start + 2 : start + 4], "big")
        size += 2
    elif length == _LENGTH_64:
        if available < 10:
            return None
        length = int.from_bytes(data[start + 2 : start + 10], "big")
        size += 8
    return size + length


def _restart_parser(protocol: ServerProtocol) -> None:
    """Give a protocol that is OPEN, at a frame boundary, a fresh frame parser.

    With nothing buffered, websockets' parser generator waits for the next
    frame, exactly where a new ``Protocol.parse()`` starts; but it still holds
    the last things it parsed as locals: the upgrade request (its headers and
    the credential, 2-3 KiB) and the last frame it parsed, for as long as the
    call lasts, since plain audio frames never reach it. (websockets swaps
    ``parser`` the same way when a connection closes.)
    """
    parser = Protocol.parse(protocol)
    next(parser)
    protocol.parser = parser


class FrameReader:
    """Feeds received bytes to a server protocol, taking plain binary frames itself.

    The receiving half of a connection: :class:`~audio_socket.connection.CallConnection`
    is one, and a subclass says what happens to what is read by overriding
    :meth:`_receive_binary` and :meth:`_process_events`.

    Once the protocol is OPEN, and while it stays OPEN, this reader knows where
    each frame starts. A frame that is complete, final, binary, masked, within
    the size limit, outside a fragmented message, goes to ``_receive_binary``
    with its payload unmasked. Any other frame's bytes go to the protocol as
    they arrive, and ``_process_events`` is called to collect its events and
    output. An incomplete plain frame is held back: websockets would only buffer it.

    Whether the next read can be the common case (one whole audio frame, nothing
    else in progress) is worked out when something changes, not for each frame:
    :meth:`_rearm` after every read that took the long way and after every call
    into the protocol, which a subclass that calls the protocol itself must make
    (the connection does, after sending).
    """

    __slots__ = (
        "_debug",
        "_fast_max",
        "_held",
        "_held_size",
        "_limit",
        "_message_closing",
        "_request_tail",
        "_slow_head",
        "_slow_left",
        "protocol",
    )

    def __init__(self, protocol: ServerProtocol) -> None:
        if protocol.max_fragment_size is not None or protocol.extensions:
            raise ValueError("the short cut knows neither extensions nor fragment limits")
        self.protocol = protocol
        self._limit = protocol.max_message_size
        # DEBUG logs each frame: then websockets parses them all, and logs them.
        self._debug = protocol.debug
        #: The start of a plain frame not yet complete, grown in place as bytes
        #: arrive (a frame that trickles in costs its size once, not once per read).
        self._held = bytearray()
        #: The whole size of the held frame; 0 while its header is incomplete.
        self._held_size = 0
        #: The last bytes of an unfinished HTTP request head.
        self._request_tail = b""
        #: The header bytes given to the protocol of a frame whose size is unknown yet.
        self._slow_head: bytes | None = None
        #: Bytes of the current frame the protocol still has to be given.
        self._slow_left = 0
        #: The frame in progress is a close between two fragments of a message.
        self._message_closing = False
        #: The longest read that may be taken as one whole audio frame; 0: none may.
        self._fast_max = 0
        self._rearm()

    # What a subclass does with what is read.

    def _receive_binary(self, data: bytes) -> None:
        """One whole binary message taken by the short cut, unmasked."""
        raise NotImplementedError

    def _process_events(self) -> None:
        """The protocol was given bytes: act on its events, send its output."""
        raise NotImplementedError

    def feed(self, data: bytes) -> None:
        """Take bytes received from the network."""
        # The common case first: the bytes are exactly one masked binary frame
        # of 126 to 65535 bytes (every audio frame), and _fast_max says nothing
        # else is in progress and that size is allowed.
        size = len(data)
        if (
            _SHORT_HEADER < size <= self._fast_max
            and data[0] == _FIN_BINARY
            and data[1] == _MASKED_LENGTH_16
            and size == _SHORT_HEADER + (data[2] << 8 | data[3])
        ):
            self._receive_binary(apply_mask(data[_SHORT_HEADER:], data[4:_SHORT_HEADER]))
            return
        self._feed(data)
        self._rearm()

    def _rearm(self) -> None:
        """Work out whether the next read may take the common case."""
        protocol = self.protocol
        if (
            protocol.state is OPEN
            and not self._held
            and not self._slow_left
            and self._slow_head is None
            and protocol.current_size is None
            and not self._debug
        ):
            limit = _MAX_LENGTH_16 if self._limit is None else min(self._limit, _MAX_LENGTH_16)
            self._fast_max = _SHORT_HEADER + limit
        else:
            self._fast_max = 0

    def _feed(self, data: bytes) -> None:
        protocol = self.protocol
        if self._held:
            held = self._held
            held += data
            if not self._held_size:
                extent = self._plain_frame_extent(held, 0)
                if extent is None:
                    return  # its header is still incomplete
                self._held_size = extent
            if self._held_size and len(held) < self._held_size:
                return  # still incomplete: only the new bytes were copied
            # Whole, or not a plain frame after all (0): parsed below either way.
            data = bytes(held)
            held.clear()
            self._held_size = 0
        pos, end = 0, len(data)
        while pos < end:
            state = protocol.state
            if state is not OPEN:
                if state is CONNECTING:
                    pos = self._give_request(data, pos)
                    continue
                # Closing or failed: websockets does it all.
                self._give(data[pos:] if pos else data)
                return
            if self._slow_left or self._slow_head is not None:
                pos = self._continue_slow(data, pos)
                continue
            if data[pos] == _FIN_BINARY and protocol.current_size is None and not self._debug:
                size = self._plain_frame_size(data, pos)
                if size is None:  # header or payload incomplete
                    self._held += memoryview(data)[pos:]
                    self._held_size = self._plain_frame_extent(self._held, 0) or 0
                    return
                if size:
                    pos = self._take_plain(data, pos, size)
                    continue
            pos = self._start_slow(data, pos)

    def feed_eof(self) -> None:
        """The peer closed its side: whatever is held goes to websockets first."""
        if self._held:
            held = bytes(self._held)
            self._held.clear()
            self._held_size = 0
            self._give(held)
        self.protocol.receive_eof()
        self._process_events()
        self._rearm()

    def _give_request(self, data: bytes, pos: int) -> int:
        """Give the protocol the HTTP request, and not one byte past its end.

        ``_process_events`` answers the request, so the protocol is OPEN, at a frame
        boundary with nothing buffered, when the frames after it are read.
        """
        tail = self._request_tail
        found = (tail + data[pos : pos + 3]).find(_END_OF_HEAD)
        if found >= 0:
            upto = pos + found + len(_END_OF_HEAD) - len(tail)
        else:
            found = data.find(_END_OF_HEAD, pos)
            upto = len(data) if found < 0 else found + len(_END_OF_HEAD)
        self._request_tail = b"" if found >= 0 else (tail + data[pos:])[-3:]
        self._give(data[pos:upto])
        self._at_boundary()
        return upto

    def _plain_frame_size(self, data: bytes, pos: int) -> int | None:
        """Size of the plain frame at ``pos``; 0 if it is not one; None if incomplete."""
        size = self._plain_frame_extent(data, pos)
        if size and len(data) - pos < size:
            return None
        return size

    def _plain_frame_extent(self, data: bytes | bytearray, pos: int) -> int | None:
        """Whole size of the plain frame starting at ``pos``, complete or not; 0 if it is
        not one (unmasked, over the limit); None while its header is incomplete."""
        end = len(data)
        if end - pos < 2:
            return None
        second = data[pos + 1]
        if not second & _MASK_BIT:
            return 0
        length = second & 0x7F
        if length < _LENGTH_16:
            size = 6 + length
        elif length == _LENGTH_16:  # 126 to 65535 bytes: every audio frame
            if end - pos < 4:
                return None
            length = data[pos + 2] << 8 | data[pos + 3]
            size = 8 + length
        else:
            if end - pos < 10:
                return None
            length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            size = 14 + length
        limit = self._limit
        if limit is not None and length > limit:
            return 0  # websockets raises PayloadTooBig: let it
        return size

    def _take_plain(self, data: bytes, pos: int, size: int) -> int:
        end = pos + size
        length_byte = data[pos + 1] & 0x7F
        start = pos + (6 if length_byte < _LENGTH_16 else 8 if length_byte == _LENGTH_16 else 14)
        payload = apply_mask(data[start:end], data[start - 4 : start])
        self._receive_binary(payload)
        return end

    def _start_slow(self, data: bytes, pos: int) -> int:
        # A close between two fragments (RFC 6455 §5.4 lets control frames in): the
        # unfinished message is dropped and the close is echoed, where websockets would
        # fail the connection with 1002 (Autobahn 7.1.5). Dropped when the close frame
        # is whole (_give_slow), not at its first byte: a frame that never completes,
        # or is no valid close, leaves the message as websockets has it.
        self._message_closing = data[pos] == _FIN_CLOSE and self.protocol.current_size is not None
        size = frame_size(data, pos)
        if size is None:
            self._slow_head = data[pos:]
            self._give(self._slow_head)
            return len(data)
        return self._give_slow(data, pos, size)

    def _continue_slow(self, data: bytes, pos: int) -> int:
        if self._slow_head is not None:
            head = self._slow_head
            size = frame_size(head + data[pos : pos + MAX_HEADER_BYTES], 0)
            if size is None:
                self._slow_head = head + data[pos:]
                self._give(data[pos:])
                return len(data)
            self._slow_head = None
            self._slow_left = size - len(head)
        return self._give_slow(data, pos, self._slow_left)

    def _give_slow(self, data: bytes, pos: int, left: int) -> int:
        take = min(left, len(data) - pos)
        self._slow_left = left - take
        if self._message_closing and not self._slow_left:
            self._message_closing = False
            self.protocol.current_size = None
        self._give(data[pos : pos + take])
        if not self._slow_left:
            self._at_boundary()
        return pos + take

    def _at_boundary(self) -> None:
        protocol = self.protocol
        if protocol.state is OPEN and not protocol.reader.buffer:
            _restart_parser(protocol)

    def _give(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._process_events()
