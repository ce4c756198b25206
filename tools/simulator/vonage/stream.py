"""One call's audio: the frames it sends on schedule and what comes back.

This is the per-frame hot path, kept to a few attribute reads and list stores:
the pacer calls :meth:`CallAudio.send_due` on its tick, the socket calls
:meth:`CallAudio.on_audio` for each binary message. Times go into lists
allocated once per call; everything else is computed afterwards by
``reports/call_report.py``.

A call's audio timeline runs across reconnects, as a caller keeps talking while
Vonage reconnects the socket: frames that fall due while no socket is open are
not sent (they are the gap), and frame numbers never restart.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Protocol

from simulator.audio import FRAME_MS, Signal
from simulator.vonage.playout import Playout

BytesLike = bytes | bytearray | memoryview

FRAME_SECONDS = FRAME_MS / 1000
# The pacer's tick: a tenth of a frame. Calls are spread over the ten ticks of each
# 20 ms period so that no single tick has every call's frame to send.
TICKS_PER_FRAME = 10
TICK_SECONDS = FRAME_SECONDS / TICKS_PER_FRAME
# How often (in frames) the write buffer is checked for a peer that stopped reading.
BUFFER_CHECK_EVERY = 50
DTMF_DURATION_MS = 260  # what Vonage reports for a key press (docs/vonage-protocol.md §3)


class FrameSink(Protocol):
    """Where frames go: the open socket (``leg.AudioConnection``)."""

    def send_frame(self, frame: bytes) -> bool:
        """Send one binary message now; False when the socket is not open."""

    def send_text_now(self, text: str) -> bool:
        """Send one text message now; False when the socket is not open."""

    def check_buffer(self) -> None:
        """Give up on a peer whose write buffer keeps growing."""


class CallAudio:
    """Frames out on schedule, frames back matched to the ones sent."""

    __slots__ = (
        "dtmf",
        "dtmf_sent",
        "due0",
        "duplicates",
        "finished",
        "frames",
        "index",
        "keys",
        "last_matched",
        "n",
        "next",
        "next_k",
        "out_of_order",
        "playout",
        "rate",
        "received",
        "recv_at",
        "sent_at",
        "silence",
        "silent",
        "sink",
        "unmatched",
    )

    def __init__(
        self, signal: Signal, *, dtmf: list[tuple[int, str]] | None = None, keep: bool = False
    ) -> None:
        self.n = len(signal.frames)
        self.sent_at = [0.0] * self.n
        self.recv_at = [0.0] * self.n
        self.next = 0
        self.next_k = 0
        self.due0 = 0.0
        self.sink: FrameSink | None = None
        self.finished: asyncio.Future[None] | None = None
        self.dtmf = sorted(dtmf or [])
        self.dtmf_sent: list[tuple[int, str]] = []
        #: Takes the caller's key presses while an ``input`` action collects them.
        self.keys: Callable[[str], None] | None = None
        self.received = self.silent = self.unmatched = 0
        self.duplicates = self.out_of_order = 0
        self.last_matched = -1
        #: Vonage's playout buffer: what the caller hears of what came back, and when.
        self.playout = Playout(keep=keep)
        self.use_signal(signal)

    def use_signal(self, signal: Signal) -> None:
        """Send (and match) this signal's frames from now on: a new rate after a reconnect."""
        self.rate = signal.rate
        self.frames = signal.frames
        self.index = signal.index
        self.silence = signal.silence

    @property
    def done(self) -> bool:
        """Every frame has fallen due."""
        return self.next >= self.n

    def send_due(self, k: int) -> bool:
        """Send the frames due by pacer tick ``k``; True once the last has fallen due."""
        while self.next_k <= k:
            i = self.next
            sink = self.sink
            if sink is not None:
                t = time.monotonic()
                if sink.send_frame(self.frames[i]):
                    self.sent_at[i] = t
                if i % BUFFER_CHECK_EVERY == 0:
                    sink.check_buffer()
            if self.dtmf and self.dtmf[0][0] <= i and (sink is not None or self.keys):
                # A key due while neither an input nor a socket listens waits for one.
                self.press(self.dtmf.pop(0)[1])
            self.next = i + 1
            self.next_k += TICKS_PER_FRAME
            if self.next >= self.n:
                return True
        return False

    def press(self, digit: str) -> bool:
        """The caller presses a key now: to a collecting ``input``, else to the socket (§3).

        False when neither listens: the key is not heard.
        """
        if self.keys is not None:
            self.keys(digit)
            self.dtmf_sent.append((self.next, digit))
            return True
        # docs/vonage-protocol.md §3: one text message per key press, between audio frames.
        message = {"event": "websocket:dtmf", "digit": digit, "duration": DTMF_DURATION_MS}
        if self.sink is None or not self.sink.send_text_now(json.dumps(message)):
            return False
        self.dtmf_sent.append((self.next, digit))
        return True

    def on_audio(self, message: BytesLike) -> None:
        """One binary message from the socket: match it to the frame it echoes."""
        t = time.monotonic()
        data = message if type(message) is bytes else bytes(message)
        self.received += 1
        i = self.index.get(data)
        if i is None:
            if data == self.silence:
                self.silent += 1
                self.playout.push(t, data, False)
            else:
                self.unmatched += 1
                self.playout.push(t, data, data.count(0) != len(data))
        else:
            self.playout.push(t, data, True)
            if self.recv_at[i]:
                self.duplicates += 1
            else:
                self.recv_at[i] = t
            if i < self.last_matched:
                self.out_of_order += 1
            self.last_matched = i
