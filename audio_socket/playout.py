"""The application's side of playout: prompts leave at real time, a small lead ahead.

``docs/vonage-protocol.md`` §3: Vonage buffers audio sent faster than real time
(up to 3,072 frames, about 60 s) and plays it at real time; ``clear`` drops what
it has buffered, and ``notify`` is answered once the audio sent before it has
played. Sending a whole prompt at once fills that buffer (a ``clear`` then has
nothing left to stop, and what happens on overflow is undocumented), and on our
side it would overrun the transport's buffer and abort the call. So a prompt
leaves a frame at a time, only ``lead`` seconds ahead of what the caller hears.

What Vonage has buffered is modelled lazily, per call, by one number: the
*horizon*, the loop time at which every frame sent so far will have played.
Each frame sent moves it 20 ms on (from now, when the buffer ran dry). Frames
the handler sent itself with ``send_audio`` are counted from the connection's
counter at each tick, so they take their share of the lead without costing the
raw path anything.

One :class:`PlayoutClock` per server ticks every 20 ms while any call has
something queued — one timer per process, none per call — and tops each such
call's buffer up to its lead. A call's :class:`Playout` is made on its first
``play()`` or ``played()``; an echo never has one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from audio_socket.framing import AudioBytes
from audio_socket.protocol import FRAME_MS, build_notify

log = logging.getLogger("audio_socket")

FRAME_SECONDS: Final = FRAME_MS / 1000
#: Seconds a ``played()`` waits for Vonage's answer beyond the audio still to play.
NOTIFY_GRACE: Final = 2.0
#: The ``notify`` payload key of ``played()`` marks. ``on_event`` never sees a
#: ``websocket:notify`` that carries it.
PLAYED_KEY: Final = "audio_socket_played"


class Sender(Protocol):
    """What the playout needs of the connection (``connection.CallConnection``)."""

    frames_out: int
    paused: bool

    def send_binary(self, data: AudioBytes) -> bool:
        """Send one binary message; False once the connection cannot send."""
        ...

    def send_text(self, text: str) -> None:
        """Send one text message, if the connection is open."""
        ...


class QueuedPrompt:
    """A queued prompt: whole frames of a view, sent from ``pos`` on."""

    __slots__ = ("done", "pos", "view")

    def __init__(self, done: asyncio.Future[bool]) -> None:
        self.done = done
        #: ``None`` while the prompt is still being read or resampled.
        self.view: memoryview | None = None
        self.pos = 0


class _Mark:
    """A queued ``played()``: its ``notify`` leaves once the audio before it has."""

    __slots__ = ("done", "number", "timeout")

    def __init__(self, number: int, done: asyncio.Future[bool], timeout: float | None) -> None:
        self.number = number
        self.done = done
        #: Seconds the answer may take from when the notify leaves; None: the default.
        self.timeout = timeout


class Playout:
    """One call's queue of prompts and played-marks, and its model of Vonage's buffer."""

    __slots__ = (
        "_call_uuid",
        "_clock",
        "_closed",
        "_counted",
        "_frame_bytes",
        "_horizon",
        "_loop",
        "_marks",
        "_queue",
        "_sender",
        "_timed_out",
        "_unanswered",
        "scheduled",
        "tap",
    )

    def __init__(
        self, sender: Sender, frame_bytes: int, clock: PlayoutClock, call_uuid: str | None = None
    ) -> None:
        self._sender = sender
        self._call_uuid = call_uuid
        self._timed_out = False
        self._frame_bytes = frame_bytes
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[QueuedPrompt | _Mark] = collections.deque()
        #: ``notify`` marks sent and not yet answered, by number (in order).
        self._unanswered: dict[int, asyncio.Future[bool]] = {}
        self._marks = itertools.count(1)
        self._horizon = 0.0
        self._counted = sender.frames_out
        self._closed = False
        #: True while the clock ticks this call (its queue is not empty).
        self.scheduled = False
        #: Sees each frame sent (a recorder), if set.
        self.tap: Callable[[AudioBytes], None] | None = None

    @property
    def queued(self) -> int:
        """Prompts and marks waiting to be sent."""
        return len(self._queue)

    def buffered(self) -> float:
        """Seconds of audio sent and, by the model, not yet played."""
        return max(0.0, self._horizon - self._loop.time())

    def enqueue(self) -> QueuedPrompt:
        """Take the next place in the queue for a prompt whose audio comes later."""
        prompt = QueuedPrompt(self._loop.create_future())
        if self._closed:
            prompt.done.set_result(False)
            return prompt
        self._queue.append(prompt)
        return prompt

    def ready(self, prompt: QueuedPrompt, audio: AudioBytes) -> None:
        """The prompt's audio is here: pace it out (a no-op once it was cleared).

        The view is sliced, never copied; a partial last frame is completed
        with silence (the prompt has ended).
        """
        if prompt.done.done():
            return
        view = memoryview(audio).cast("B")
        if not view:
            self._finish(prompt)
            return
        prompt.view = view
        self._start()

    def fail(self, prompt: QueuedPrompt, exc: BaseException | None) -> None:
        """The prompt could not be read: its ``play()`` raises ``exc`` (or returns
        False without one), and the queue moves on."""
        if not prompt.done.done():
            if exc is None:
                prompt.done.set_result(False)
            else:
                prompt.done.set_exception(exc)
        self._discard(prompt)
        self._start()

    def played(self, timeout: float | None = None) -> asyncio.Future[bool]:
        """A mark after everything queued so far: True once Vonage played it all.

        False when no answer came ``timeout`` seconds after the call (by default,
        counted from when the mark's notify leaves: the audio still buffered then,
        plus :data:`NOTIFY_GRACE`). A notify Vonage never answers then costs the
        handler that long, not the rest of the call.
        """
        done: asyncio.Future[bool] = self._loop.create_future()
        if self._closed:
            done.set_result(False)
            return done
        mark = _Mark(next(self._marks), done, timeout)
        if timeout is not None:
            self._arm(done, timeout)
        if self._queue:
            self._queue.append(mark)
            self._start()
        else:
            self._send_mark(mark)
        return done

    def answered(self, payload: Mapping[str, Any]) -> bool:
        """A ``websocket:notify``: True when it is one of ours (``on_event`` skips it)."""
        number = payload.get(PLAYED_KEY)
        if number is None:
            return False
        if isinstance(number, int):
            # Vonage answers in order: an answer covers every earlier mark too.
            while self._unanswered:
                first = next(iter(self._unanswered))
                if first > number:
                    break
                _settle(self._unanswered.pop(first), True)
        return True

    def clear(self) -> None:
        """Barge-in: queued prompts return early, every pending ``played()`` is False.

        Vonage may never answer a ``notify`` sent before a ``clear`` (that is
        undocumented), so marks are settled here, not by an answer.
        """
        for item in self._queue:
            _settle(item.done, False)
        self._queue.clear()
        for done in self._unanswered.values():
            _settle(done, False)
        self._unanswered.clear()
        self._horizon = self._loop.time()  # Vonage dropped its buffer
        self._counted = self._sender.frames_out

    def close(self) -> None:
        """The call ended: everything pending settles as not played."""
        self._closed = True
        self.clear()

    def top_up(self, now: float) -> bool:
        """Send what keeps the buffer ``lead`` ahead of ``now``; True while more is queued."""
        sender, queue = self._sender, self._queue
        horizon = max(self._horizon, now)
        out = sender.frames_out
        horizon += (out - self._counted) * FRAME_SECONDS  # send_audio's frames
        limit = now + self._clock.lead
        size = self._frame_bytes
        while queue:
            item = queue[0]
            if isinstance(item, _Mark):
                queue.popleft()
                self._send_mark(item)
                continue
            view = item.view
            if view is None or horizon >= limit or sender.paused:
                break
            pos = item.pos
            frame: AudioBytes = view[pos : pos + size]
            if len(frame) < size:
                frame = bytes(frame) + bytes(size - len(frame))
            if not sender.send_binary(frame):
                self.close()
                return False
            if self.tap is not None:
                self.tap(frame)
            horizon += FRAME_SECONDS
            item.pos = pos = pos + size
            if pos >= len(view):
                queue.popleft()
                self._finish(item)
        self._horizon = horizon
        self._counted = sender.frames_out
        return bool(queue)

    def _start(self) -> None:
        if self._queue and not self.scheduled and not self._closed:
            now = self._loop.time()
            if self._horizon < now:  # idle: what send_audio sent has played by now
                self._horizon = now
                self._counted = self._sender.frames_out
            self._clock.schedule(self, now)

    def _send_mark(self, mark: _Mark) -> None:
        self._unanswered[mark.number] = mark.done
        self._sender.send_text(build_notify({PLAYED_KEY: mark.number}))
        if mark.timeout is None:
            self._arm(mark.done, self.buffered() + NOTIFY_GRACE)

    def _arm(self, done: asyncio.Future[bool], timeout: float) -> None:
        timer = self._loop.call_later(timeout, self._expire, done, timeout)
        done.add_done_callback(lambda _: timer.cancel())

    def _expire(self, done: asyncio.Future[bool], timeout: float) -> None:
        if done.done():
            return
        if not self._timed_out:  # once per call: a line that never answers says so once
            self._timed_out = True
            log.warning(
                "played(): no notify answer in time",
                extra={"call_uuid": self._call_uuid, "timeout_s": round(timeout, 3)},
            )
        done.set_result(False)

    def _finish(self, prompt: QueuedPrompt) -> None:
        prompt.view = None
        _settle(prompt.done, True)

    def _discard(self, prompt: QueuedPrompt) -> None:
        with contextlib.suppress(ValueError):  # already cleared
            self._queue.remove(prompt)


class PlayoutClock:
    """The one pacing tick of a server: every 20 ms while any call has prompts queued."""

    __slots__ = ("_due", "_loop", "_playing", "_timer", "lead")

    def __init__(self, lead: float) -> None:
        if lead < FRAME_SECONDS:
            raise ValueError("the lead must be at least one frame")
        self.lead = lead
        self._loop: asyncio.AbstractEventLoop | None = None
        self._playing: list[Playout] = []
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def playing(self) -> int:
        """Calls the clock is pacing now."""
        return len(self._playing)

    def schedule(self, playout: Playout, now: float) -> None:
        """Pace ``playout`` from now on: its first frames leave at once."""
        playout.scheduled = True
        if playout.top_up(now):
            self._playing.append(playout)
            if self._timer is None:
                self._loop = loop = asyncio.get_running_loop()
                self._due = now + FRAME_SECONDS
                self._timer = loop.call_at(self._due, self._tick)
        else:
            playout.scheduled = False

    def stop(self) -> None:
        """Stop ticking (the server is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        playing, self._playing = self._playing, []
        still: list[Playout] = []
        for playout in playing:
            if playout.scheduled and playout.top_up(now):
                still.append(playout)
            else:
                playout.scheduled = False
        self._playing = still + self._playing  # calls scheduled during the tick come after
        if not self._playing:
            self._timer = None
            return
        # On schedule, but never catching up with a burst: the lead absorbs a late tick.
        self._due = max(self._due + FRAME_SECONDS, now + FRAME_SECONDS / 2)
        self._timer = loop.call_at(self._due, self._tick)


def _settle(done: asyncio.Future[bool], value: bool) -> None:
    if not done.done():
        done.set_result(value)
