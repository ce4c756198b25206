"""The scripted caller's audio: what it says on the 20 ms grid, its key presses, its ear.

:class:`ScriptedAudio` is the browser phone's live caller (``phone/live.py``) with a
script for a microphone: the pacer asks it for a frame every 20 ms
(:meth:`send_due`), and it feeds the next frame of what it is saying, or silence.
Each utterance notes when its first and last audible frames left (the simulator's
clock), which is where the caller's speech starts and ends for the measurements.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from simulator.audio import Pcm, samples_per_frame, to_pcm16
from simulator.frontends.converse.ear import (
    DEFAULT_AUDIBLE_DBFS,
    Ear,
    loudness_threshold,
    mean_square,
)
from simulator.frontends.phone.live import LiveAudio
from simulator.vonage.stream import TICKS_PER_FRAME


@dataclass
class Utterance:
    """One thing the caller says, and when its audible part left."""

    frames: list[bytes]
    loud: list[bool]
    #: When its first and last frames, and its first and last audible frames, were sent.
    began: float | None = None
    ended: float | None = None
    onset: float | None = None
    last_loud: float | None = None
    #: Audio queued in Vonage's buffer (s) when its first audible frame left.
    queued_at_onset: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def utterance(pcm: Pcm, rate: int, audible_dbfs: float = DEFAULT_AUDIBLE_DBFS) -> Utterance:
    """``pcm`` cut into 20 ms frames at ``rate``, the last padded with silence."""
    samples = to_pcm16(pcm, rate)
    size = samples_per_frame(rate)
    padded = -len(samples) % size
    data = samples.tobytes() + bytes(2 * padded)
    frames = [data[i : i + 2 * size] for i in range(0, len(data), 2 * size)]
    power = loudness_threshold(audible_dbfs)
    return Utterance(frames, [mean_square(f) > power for f in frames])


class ScriptedAudio(LiveAudio):
    """A caller whose microphone is a queue of utterances, silence in between."""

    __slots__ = ("_outbox", "ear", "streaming")

    def __init__(self, audible_dbfs: float = DEFAULT_AUDIBLE_DBFS) -> None:
        super().__init__()
        self.ear = Ear(audible_dbfs)
        self.playout = self.ear
        self._outbox: deque[tuple[Utterance, int]] = deque()
        #: Set once the first frame left: the socket is open and the pacer has the call.
        self.streaming = asyncio.Event()

    def say(self, words: Utterance) -> None:
        """Start saying ``words`` at the next frame (after anything still being said)."""
        self._outbox.append((words, 0))

    def send_due(self, k: int) -> bool:
        """The pacer's tick: feed the frames due by tick ``k``; True once the caller hung up."""
        while self.next_k <= k and not self.hung_up:
            self._send_next()
            self.next_k += TICKS_PER_FRAME
        self.streaming.set()
        return self.hung_up

    def _send_next(self) -> None:
        if not self._outbox:
            self.feed(self.silence)
            return
        words, i = self._outbox.popleft()
        t = time.monotonic()
        self.feed(words.frames[i])
        if i == 0:
            words.began = t
        if words.loud[i]:
            if words.onset is None:
                words.onset = t
                words.queued_at_onset = max(0.0, self.ear.end - t)
            words.last_loud = t
        if i + 1 < len(words.frames):
            self._outbox.appendleft((words, i + 1))
        else:
            words.ended = t
            words.done.set()
