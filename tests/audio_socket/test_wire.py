"""The frame short cut gives exactly what websockets' own parser gives."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import CONNECTING, OPEN, State
from websockets.server import ServerProtocol

from audio_socket.wire import FrameReader, binary_header, frame_size
from tests.audio_socket.helpers import RecordingHost, open_connection

MAX_SIZE = 1024


def encode(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes | None = b"abcd"
) -> bytes:
    """A client frame, built by hand so it may break any rule (length in its shortest form)."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return head + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def long_form(payload: bytes, mask: bytes) -> bytes:
    """A binary frame whose length uses the 64-bit form although it needs none."""
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BBQ", 0x82, 0x80 | 127, len(payload)) + mask + masked


payloads = st.binary(max_size=300) | st.sampled_from([bytes(640), bytes(MAX_SIZE), bytes(2000)])
masks = st.binary(min_size=4, max_size=4)

#: Frames as a client encodes them, well-formed or breaking a rule of RFC 6455.
encoded_frames = st.one_of(
    st.builds(lambda p, m: encode(2, p, mask=m), payloads, masks),  # the common case
    st.builds(lambda p, m: encode(2, p, mask=m), payloads, masks),
    st.builds(long_form, st.binary(max_size=50), masks),
    st.builds(lambda p: encode(1, p), st.text(max_size=30).map(str.encode) | st.binary(max_size=8)),
    st.builds(lambda p, f: encode(2, p, fin=f), st.binary(max_size=20), st.booleans()),
    st.builds(lambda p, f: encode(1, p, fin=f), st.binary(max_size=20), st.booleans()),
    st.builds(lambda p, f: encode(0, p, fin=f), st.binary(max_size=20), st.booleans()),
    st.builds(lambda p: encode(9, p), st.binary(max_size=10)),  # ping
    st.builds(lambda p: encode(10, p), st.binary(max_size=10)),  # pong
    st.builds(lambda p: encode(8, p), st.sampled_from([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x01"])),
    st.builds(lambda p: encode(2, p, mask=None), st.binary(max_size=10)),  # unmasked
    st.builds(lambda p, r: encode(2, p, rsv=r), st.binary(max_size=10), st.integers(1, 7)),
    st.builds(lambda p, o: encode(o, p), st.binary(max_size=10), st.sampled_from([3, 7, 11, 15])),
)
frames = encoded_frames | st.binary(max_size=12)  # and junk


@dataclass
class Outcome:
    """Everything a protocol showed: events, bytes written, where it ended up."""

    events: list[tuple[int, bytes, bool, bool, bool, bool]] = field(default_factory=list)
    output: list[bytes] = field(default_factory=list)

    def collect(self, protocol: ServerProtocol) -> None:
        """Take the protocol's events and output."""
        for event in protocol.events_received():
            assert isinstance(event, Frame)
            self.add(event)
        self.output.extend(protocol.data_to_send())

    def add(self, frame: Frame) -> None:
        """Record one frame."""
        self.events.append(
            (frame.opcode, bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)
        )


def final(protocol: ServerProtocol, outcome: Outcome) -> tuple[object, ...]:
    """What must match at the end: state, close frames, error, message in progress."""
    return (
        outcome.events,
        b"".join(outcome.output),
        outcome.output.count(b""),
        protocol.state,
        protocol.close_rcvd,
        protocol.close_sent,
        type(protocol.parser_exc),
        protocol.current_size,
    )


class ReferenceProtocol(ServerProtocol):
    """websockets, but a close between two fragments ends the connection normally, as
    the reader makes it do (RFC 6455 §5.4 allows control frames between fragments;
    websockets fails the connection with 1002 instead: Autobahn 7.1.5)."""

    def recv_frame(self, frame: Frame) -> None:
        """Drop the unfinished message when a close arrives in the middle of it."""
        if frame.opcode is Opcode.CLOSE and self.state is OPEN:
            self.current_size = None
        super().recv_frame(frame)


def run_reference(chunks: list[bytes], eof: bool, state: State = OPEN) -> tuple[object, ...]:
    """websockets alone (with the one deviation the reader makes)."""
    protocol, outcome = ReferenceProtocol(state=state, max_size=MAX_SIZE), Outcome()
    for chunk in chunks:
        protocol.receive_data(chunk)
        outcome.collect(protocol)
    if eof:
        protocol.receive_eof()
        outcome.collect(protocol)
    return final(protocol, outcome)


class RecordingReader(FrameReader):
    """A reader that records what it reads, as the connection would act on it."""

    __slots__ = ("outcome",)

    def __init__(self, protocol: ServerProtocol, outcome: Outcome) -> None:
        super().__init__(protocol)
        self.outcome = outcome

    def _receive_binary(self, data: bytes) -> None:
        self.outcome.add(Frame(Opcode.BINARY, data))

    def _process_events(self) -> None:
        collect(self.protocol, self.outcome)


def run_reader(chunks: list[bytes], eof: bool, state: State = OPEN) -> tuple[object, ...]:
    """websockets behind the short cut."""
    protocol, outcome = ServerProtocol(state=state, max_size=MAX_SIZE), Outcome()
    reader = RecordingReader(protocol, outcome)
    for chunk in chunks:
        reader.feed(chunk)
    if eof:
        reader.feed_eof()
    return final(protocol, outcome)


def collect(protocol: ServerProtocol, outcome: Outcome) -> None:
    """Collect, answering an opening handshake the way the server does."""
    for event in protocol.events_received():
        if isinstance(event, Frame):
            outcome.add(event)
        elif isinstance(event, Request):
            protocol.send_response(protocol.accept(event))
    outcome.output.extend(protocol.data_to_send())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at these offsets."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=600, deadline=None)
@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_any_frames_split_anyhow_give_what_websockets_gives(
    parts: list[bytes], cuts: list[int], eof: bool
) -> None:
    """Events, output, state, close frames and errors match websockets' parser."""
    chunks = split(b"".join(parts), cuts)
    assert run_reader(chunks, eof) == run_reference(chunks, eof)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=5), st.booleans())
def test_arbitrary_bytes_give_what_websockets_gives(
    data: bytes, cuts: list[int], eof: bool
) -> None:
    """Random bytes, too: the same events and the same failure."""
    chunks = split(data, cuts)
    assert run_reader(chunks, eof) == run_reference(chunks, eof)


REQUEST = (
    b"GET /socket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def without_handshake(result: tuple[object, ...]) -> tuple[object, ...]:
    """The outcome minus the 101 response, whose Date and Accept vary."""
    events, output, *rest = result
    assert isinstance(output, bytes)
    return (events, output.partition(b"\r\n\r\n")[2], *rest)


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=6), st.lists(st.integers(0, 400), max_size=6))
def test_frames_right_after_the_request_are_read_alike(parts: list[bytes], cuts: list[int]) -> None:
    """Frames in the packets of the HTTP request are read as if they came after the 101."""
    chunks = split(REQUEST + b"".join(parts), cuts)
    reference = ReferenceProtocol(state=CONNECTING, max_size=MAX_SIZE)
    outcome = Outcome()
    for chunk in (REQUEST, b"".join(parts)):
        reference.receive_data(chunk)
        collect(reference, outcome)
    expected = final(reference, outcome)
    assert without_handshake(run_reader(chunks, False, CONNECTING)) == without_handshake(expected)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=126, max_size=700), min_size=1, max_size=6),
    st.lists(frames, max_size=4),
    st.integers(0, 6),
)
def test_a_close_the_server_starts_ends_the_short_cut(
    audio: list[bytes], tail: list[bytes], close_at: int
) -> None:
    """After the server starts the closing handshake, frames go to websockets.

    The reader learns of a call into the protocol it did not make through
    ``_rearm``, as the connection calls it after sending.
    """
    chunks = [encode(2, payload, mask=os.urandom(4)) for payload in audio] + tail
    close_at = min(close_at, len(chunks))

    def run(use_reader: bool) -> tuple[object, ...]:
        kind = ServerProtocol if use_reader else ReferenceProtocol
        protocol, outcome = kind(state=OPEN, max_size=MAX_SIZE), Outcome()
        reader = RecordingReader(protocol, outcome)
        for index, chunk in enumerate(chunks):
            if index == close_at and protocol.state is OPEN:  # as the connection does
                protocol.send_close(1000, "bye")
                reader._rearm()
            if use_reader:
                reader.feed(chunk)
            else:
                protocol.receive_data(chunk)
            outcome.collect(protocol)
        return final(protocol, outcome)

    assert run(use_reader=True) == run(use_reader=False)


def test_a_split_plain_frame_is_held_until_complete() -> None:
    """Half a frame produces nothing; the other half produces the payload."""
    outcome = Outcome()
    reader = RecordingReader(ServerProtocol(state=OPEN, max_size=MAX_SIZE), outcome)
    payload = os.urandom(640)
    frame = encode(2, payload)
    reader.feed(frame[:300])
    assert outcome.events == []
    reader.feed(frame[300:] + frame)
    assert [data for _, data, *_ in outcome.events] == [payload, payload]


def test_debug_logging_leaves_every_frame_to_websockets() -> None:
    """With DEBUG on, websockets parses (and logs) each frame itself."""
    logger = logging.getLogger("test_wire.debug")
    logger.setLevel(logging.DEBUG)
    protocol = ServerProtocol(state=OPEN, max_size=MAX_SIZE, logger=logger)
    outcome = Outcome()
    reader = NoShortCut(protocol, outcome)
    reader.feed(encode(2, b"abc"))
    reader.feed(encode(2, bytes(640)))
    assert outcome.events == [
        (Opcode.BINARY, b"abc", True, False, False, False),
        (Opcode.BINARY, bytes(640), True, False, False, False),
    ]


class NoShortCut(RecordingReader):
    """A reader whose short cut must not be taken."""

    __slots__ = ()

    def _receive_binary(self, data: bytes) -> None:
        pytest.fail(f"unexpected short cut for {data!r}")


def test_extensions_are_refused() -> None:
    """The short cut would skip an extension's decoding: it refuses to run with one."""
    protocol = ServerProtocol(state=OPEN, max_size=(MAX_SIZE, 100))
    with pytest.raises(ValueError, match="extensions"):
        FrameReader(protocol)


@given(st.integers(0, 70_000) | st.sampled_from([125, 126, 65535, 65536]))
def test_binary_header_is_what_websockets_serialises(size: int) -> None:
    """Header + payload is byte for byte ``Frame.serialize`` of a server frame."""
    payload = bytes(size)
    assert binary_header(size) + payload == Frame(Opcode.BINARY, payload).serialize(mask=False)


@given(encoded_frames)
def test_frame_size_covers_the_whole_frame(frame: bytes) -> None:
    """The size read from a header spans the frame; a cut header has no size yet."""
    size = frame_size(frame, 0)
    if size is not None:
        assert size >= len(frame) or len(frame) < 2
    for cut in range(min(len(frame), 2)):
        assert frame_size(frame[:cut], 0) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=8), st.lists(st.binary(min_size=126, max_size=2000), max_size=8))
def test_whole_audio_frames_fed_one_by_one_give_what_websockets_gives(
    parts: list[bytes], audio: list[bytes]
) -> None:
    """The one-frame-per-read case (every paced call) matches too, amid other frames."""
    chunks = [*parts, *(encode(2, payload, mask=os.urandom(4)) for payload in audio)]
    chunks = [c for pair in zip(chunks, reversed(chunks), strict=True) for c in pair]
    assert run_reader(chunks, False) == run_reference(chunks, False)


async def run_connection(
    chunks: list[bytes], close_on: bytes | None, *, short_cut: bool
) -> tuple[object, ...]:
    """A whole CallConnection on a fake transport: what its host got and what it wrote."""
    host = RecordingHost(close_on=close_on)
    conn, transport = open_connection(host, short_cut=short_cut)
    for chunk in chunks:
        conn.data_received(chunk)
    result = (
        host.messages,
        transport.written,
        transport.closing,
        conn.protocol.state,
        conn.protocol.close_sent,
        conn.frames_in,
        conn.bytes_in,
    )
    conn.connection_lost(None)
    return result


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(min_size=126, max_size=700) | st.sampled_from([bytes(640)]), max_size=8),
    st.lists(frames, max_size=6),
    st.lists(st.integers(0, 10_000), max_size=4),
    st.integers(0, 8),
)
def test_the_connection_reads_alike_with_and_without_its_short_cut(
    audio: list[bytes], other: list[bytes], cuts: list[int], close_after: int
) -> None:
    """One frame per read (the short cut) or any other split: the host sees the same.

    Audio frames, any other frame, junk; and the server closing the call on one
    of the audio frames (a handler calling ``close``): messages, output, state,
    counters all match a connection that never takes the short cut.
    """
    whole = [encode(2, payload, mask=os.urandom(4)) for payload in audio]
    mixed = [c for pair in zip(whole, other, strict=False) for c in pair] + whole[len(other) :]
    mixed += other[len(whole) :]
    close_on = audio[close_after] if close_after < len(audio) else None
    chunks = mixed + split(b"".join(mixed), cuts)

    async def both() -> tuple[tuple[object, ...], tuple[object, ...]]:
        return (
            await run_connection(chunks, close_on, short_cut=True),
            await run_connection(chunks, close_on, short_cut=False),
        )

    with_short_cut, without = asyncio.run(both())
    assert with_short_cut == without


def test_a_close_between_fragments_is_echoed() -> None:
    """A close frame after a first fragment gets the close echoed (1000), not 1002."""
    first = encode(Opcode.TEXT, b"frag", fin=False)
    close = encode(Opcode.CLOSE, (1000).to_bytes(2, "big"))
    for chunks in ([first + close], [first, close], [first + close[:1], close[1:]]):
        protocol, outcome = ServerProtocol(state=OPEN, max_size=MAX_SIZE), Outcome()
        reader = RecordingReader(protocol, outcome)
        for chunk in chunks:
            reader.feed(chunk)
        received, sent = protocol.close_rcvd, protocol.close_sent
        assert received is not None
        assert sent is not None
        assert (received.code, sent.code) == (1000, 1000), chunks


def test_a_trickling_frame_is_held_in_one_growing_buffer() -> None:
    """A frame arriving a byte at a time is appended in place, not rebuilt per read:
    linear in its size (the held buffer is one object that only grows)."""
    payload = os.urandom(MAX_SIZE)
    data = encode(Opcode.BINARY, payload)
    protocol, outcome = ServerProtocol(state=OPEN, max_size=MAX_SIZE), Outcome()
    reader = RecordingReader(protocol, outcome)
    reader.feed(data[:1])
    held = reader._held
    for i in range(1, len(data) - 1):
        reader.feed(data[i : i + 1])
        assert reader._held is held
        assert len(held) == i + 1
    reader.feed(data[-1:])
    assert not held
    assert outcome.events == [(Opcode.BINARY, payload, True, False, False, False)]
