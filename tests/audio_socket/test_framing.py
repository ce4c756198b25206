"""The re-framer: whole frames out, remainder carried, never a short frame."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio_socket.framing import Reframer

FRAME = 640


def frames_of(stream: bytes, size: int) -> list[bytes]:
    """The whole frames a stream contains, cut directly."""
    whole = len(stream) - len(stream) % size
    return [stream[i : i + size] for i in range(0, whole, size)]


@st.composite
def split_stream(draw: st.DrawFn) -> tuple[int, bytes, list[bytes]]:
    """A frame size, a byte stream, and the stream cut at arbitrary points."""
    size = draw(st.sampled_from([320, 640, 960, 2, 6]))
    stream = draw(st.binary(max_size=size * 8))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return size, stream, [stream[a:b] for a, b in itertools.pairwise(bounds)]


@given(split_stream())
def test_any_split_gives_the_same_whole_frames(case: tuple[int, bytes, list[bytes]]) -> None:
    """However the input is split, the output is the stream's whole frames, in order."""
    size, stream, pieces = case
    reframer = Reframer(size)
    out = [frame for piece in pieces for frame in reframer.push(piece)]
    assert out == frames_of(stream, size)
    assert reframer.pending == len(stream) % size


@given(split_stream())
def test_no_frame_is_ever_short(case: tuple[int, bytes, list[bytes]]) -> None:
    """Every frame out is exactly the negotiated size and of type bytes."""
    size, _, pieces = case
    reframer = Reframer(size)
    for piece in pieces:
        for frame in reframer.push(piece):
            assert type(frame) is bytes
            assert len(frame) == size


@given(st.binary(max_size=FRAME * 3), st.sampled_from([bytes, bytearray, memoryview]))
def test_buffer_types_are_equivalent(data: bytes, kind: type) -> None:
    """bytearray and memoryview input give the same frames as bytes."""
    expected = Reframer(FRAME).push(data)
    assert Reframer(FRAME).push(kind(data)) == expected


def test_one_whole_frame_passes_through_uncopied() -> None:
    """The common case returns the very object given: no copy."""
    frame = bytes(range(256)) * 2 + bytes(128)
    out = Reframer(FRAME).push(frame)
    assert len(out) == 1
    assert out[0] is frame


def test_remainder_is_carried_not_padded() -> None:
    """A partial frame waits for the rest; nothing is sent short or padded."""
    reframer = Reframer(FRAME)
    assert reframer.push(b"\x01" * 500) == []
    assert reframer.pending == 500
    assert reframer.push(b"\x02" * 500) == [b"\x01" * 500 + b"\x02" * 140]
    assert reframer.pending == 360


def test_whole_frame_after_a_remainder_is_not_passed_through() -> None:
    """With bytes carried, a frame-sized input completes the carried frame first."""
    reframer = Reframer(FRAME)
    reframer.push(b"\x01" * 10)
    assert reframer.push(b"\x02" * FRAME) == [b"\x01" * 10 + b"\x02" * 630]
    assert reframer.pending == 10


def test_pad_completes_the_remainder_with_silence() -> None:
    """pad() ends an utterance: the remainder plus zero samples, one whole frame."""
    reframer = Reframer(FRAME)
    reframer.push(b"\x05" * 100)
    assert reframer.pad() == b"\x05" * 100 + bytes(FRAME - 100)
    assert reframer.pending == 0
    assert reframer.pad() is None


def test_clear_drops_the_remainder() -> None:
    """clear() forgets the carried bytes (barge-in)."""
    reframer = Reframer(FRAME)
    reframer.push(b"\x05" * 100)
    reframer.clear()
    assert reframer.pending == 0
    assert reframer.push(b"\x06" * FRAME) == [b"\x06" * FRAME]


def test_empty_input_is_harmless() -> None:
    """Pushing nothing yields nothing."""
    assert Reframer(FRAME).push(b"") == []


@pytest.mark.parametrize("size", [0, -2, 3])
def test_frame_size_must_be_positive_and_even(size: int) -> None:
    """A frame holds whole 16-bit samples."""
    with pytest.raises(ValueError, match="frame_bytes"):
        Reframer(size)
