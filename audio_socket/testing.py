"""A test double for call handlers: run one in your pytest, with no socket and no Vonage.

``CallTester`` plays Vonage's side of one call against a handler of either form, on a
clock of its own, so a test neither sleeps nor opens a port::

    from audio_socket.testing import CallTester

    async def test_greets_then_hangs_up_on_hash() -> None:
        async with CallTester(my_handler) as tester:
            await tester.advance(2.0)            # 2 s of the caller's silence
            assert tester.sent_seconds > 0.5     # the greeting played
            await tester.send_dtmf("#")
            assert tester.requests[-1].action == "hangup"

What it models, in 20 ms ticks of its clock:

- the caller's frames reach the handler one a tick: ``send_audio`` (bytes or a WAV
  file) queues them, ``advance`` sends silence when none are queued, as a live line
  does;
- ``play()`` sends one frame a tick, and ``played()`` and ``notify`` are answered
  once what was sent before them has been heard (``drop_notify_answers`` never
  answers, as one field report saw Vonage do); ``send_audio`` frames count as sent
  at once;
- ``clear`` drops what is queued; plays and played() pending return False;
- ``hangup``, ``transfer``, ``say`` and ``send_dtmf`` are recorded in ``requests``;
  ``fail_request`` makes the next one of an action raise. An accepted hang-up or
  transfer ends the call, as Vonage closes the socket then.

The clock drives only the tester: a handler's own ``asyncio.sleep`` runs in real time.
A handler's exception (a callback, its coroutine, a spawned task) ends the call with
1011, as the server does; leaving the ``async with`` raises it in the test.
"""

from __future__ import annotations

import asyncio
import collections
import os
import wave
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from audio_socket.call_base import CallBase
from audio_socket.callbacks import MaybeAwaitable
from audio_socket.errors import CallControlError, CloseCode, Outcome
from audio_socket.framing import AudioBytes, PromptSource, Reframer
from audio_socket.handler import CallEnd, CallHandler
from audio_socket.loading import prepare_handler
from audio_socket.protocol import (
    FRAME_MS,
    CallEvent,
    CallStart,
    Cleared,
    Dtmf,
    Notified,
    frame_bytes,
)

__all__ = ["CallTester", "Request", "TestCall"]

TICK: Final = FRAME_MS / 1000
#: Event-loop turns given to the handler's tasks after each tick.
_SETTLE_TURNS: Final = 20


@dataclass(frozen=True)
class Request:
    """A Voice REST API request the handler made: ``hangup``, ``transfer``, ``say``, ``dtmf``."""

    action: str
    args: tuple[Any, ...] = ()


@dataclass
class _Prompt:
    pcm: bytes
    done: asyncio.Future[bool]
    pos: int = 0


@dataclass
class _Mark:
    done: asyncio.Future[bool] | None
    payload: Mapping[str, Any] | None = None
    deadline: float | None = None


@dataclass
class _Outbox:
    """What the application sent and the caller is to hear, in order."""

    queue: collections.deque[_Prompt | _Mark] = field(default_factory=collections.deque)
    #: played() marks whose answer was dropped (``drop_notify_answers``): they time out.
    unanswered: list[_Mark] = field(default_factory=list)

    def pending(self) -> list[_Prompt | _Mark]:
        """Everything whose ``done`` may still be waited on."""
        return [*self.queue, *self.unanswered]

    def drop(self) -> None:
        """Settle everything pending as False and forget it (a clear, the call's end)."""
        for item in self.pending():
            if item.done is not None and not item.done.done():
                item.done.set_result(False)
        self.queue.clear()
        self.unanswered.clear()


class TestCall(CallBase):
    """The ``Call`` a handler gets from a ``CallTester``: it records what the handler does."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, tester: CallTester, start: CallStart, settings: Any) -> None:
        super().__init__(start, settings)
        self._tester = tester
        self._reframer = Reframer(start.frame_bytes)
        self.ending = False

    def is_over(self) -> bool:
        """Whether the tester ended the call."""
        return self._tester.ended is not None

    def fail(self, exc: BaseException) -> None:
        """The handler raised: the call ends with 1011."""
        self._tester.fail(exc)

    # Sending

    def send_audio(self, audio: AudioBytes) -> None:
        """Raw frames: sent, and heard, at once."""
        for frame in self._reframer.push(audio):
            self._tester.heard_frame(bytes(frame))

    def flush_audio(self) -> None:
        """The carried partial frame, completed with silence."""
        frame = self._reframer.pad()
        if frame is not None:
            self._tester.heard_frame(bytes(frame))

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        """Queue a prompt: one frame leaves each tick."""
        pcm = _prompt_pcm(audio, rate, self.sample_rate)
        return self._tester.queue_prompt(pcm)

    def played(self, timeout: float | None = None) -> Awaitable[bool]:
        """True once everything queued before it has been heard."""
        done: Awaitable[bool] = self._tester.queue_mark(None, timeout)
        return done

    def clear(self) -> None:
        """Barge-in: what is queued is dropped; pending plays and played() are False."""
        self._reframer.clear()
        self._tester.clear()

    def notify(self, payload: Mapping[str, Any]) -> None:
        """Answered with a ``Notified`` event once the audio before it was heard."""
        self._tester.controls.append(("notify", dict(payload)))
        self._tester.queue_mark(payload, None)

    async def drain(self) -> None:
        """Nothing waits to be written in a test."""

    # Call control

    async def hangup(self) -> None:
        """Recorded; accepted unless failed; the call then ends."""
        self._tester.request("hangup")
        self.ending = True
        self._tester.end_soon(Outcome.COMPLETED, CloseCode.NORMAL_CLOSURE, "")

    async def transfer(self, ncco: Sequence[Any]) -> None:
        """Recorded with the NCCO as dicts; the call then ends on this socket."""
        actions = [_action(a) for a in ncco]
        self._tester.request("transfer", actions)
        self.ending = True
        self._tester.end_soon(Outcome.COMPLETED, CloseCode.NORMAL_CLOSURE, "")

    async def say(self, text: str, language: str | None = None) -> None:
        """Recorded."""
        self._tester.request("say", text, language)

    async def send_dtmf(self, digits: str) -> None:
        """Recorded."""
        self._tester.request("dtmf", digits)

    def close_socket(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """The socket closes: the call ends here (Vonage would reconnect it)."""
        self._tester.controls.append(("close_socket", int(code)))
        self._tester.end_soon(Outcome.COMPLETED, code, reason)

    def end(self) -> list[asyncio.Task[Any]]:
        """The call is over: inboxes close, tasks are cancelled (and returned)."""
        return self.end_tasks()


class CallTester:
    """Vonage's side of one call against ``handler``, on the tester's own clock."""

    def __init__(
        self,
        handler: object,
        *,
        sample_rate: int = 16000,
        call_uuid: str = "00000000-0000-4000-8000-000000000000",
        headers: Mapping[str, Any] | None = None,
        settings: Any = None,
        drop_notify_answers: bool = False,
    ) -> None:
        metadata = {"call_uuid": call_uuid, "attempt": 1, **(headers or {})}
        start = CallStart(
            f"audio/l16;rate={sample_rate}", sample_rate, frame_bytes(sample_rate), metadata
        )
        self._loaded = prepare_handler(handler, getattr(handler, "__name__", "handler"), settings)
        self.call = TestCall(self, start, self._loaded.settings)
        self._handler: CallHandler | None = None
        self._caller: collections.deque[bytes] = collections.deque()
        self._outbox = _Outbox()
        self._failures: dict[str, list[BaseException]] = collections.defaultdict(list)
        self._drop_notify = drop_notify_answers
        self._waiting: asyncio.Future[None] | None = None
        self._answers: set[asyncio.Future[None]] = set()
        #: Seconds on the tester's clock.
        self.now = 0.0
        #: Every frame the caller heard, in order: paced prompts and raw sends alike.
        self.sent_frames: list[bytes] = []
        #: ``("clear",)``, ``("notify", payload)``, ``("close_socket", code)``, in order.
        self.controls: list[tuple[Any, ...]] = []
        #: Voice REST API requests, in order.
        self.requests: list[Request] = []
        #: The events the handler was given, in order.
        self.events_sent: list[CallEvent] = []
        #: How the call ended, once it has.
        self.ended: CallEnd | None = None
        #: What the handler raised, if anything (it ended the call with 1011).
        self.failure: BaseException | None = None

    # The call's life

    async def __aenter__(self) -> CallTester:
        await self.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.finish()
        if exc is None and self.failure is not None:
            raise self.failure

    async def begin(self) -> None:
        """Start the call: the handler is made and ``on_start`` runs."""
        try:
            self._handler = self._loaded.new(self.call)
            await self._wait(self._handler.on_start(self.call, self.call.start))
        except Exception as exc:  # the server closes the call with 1011 the same way
            self.fail(exc)
        await self._settle()

    async def finish(self, code: int = 1000, reason: str = "") -> None:
        """The caller hangs up (unless the call already ended): ``on_end`` runs."""
        if self.ended is None:
            await self._end(CallEnd(code, reason, Outcome.COMPLETED))

    # The caller

    async def send_audio(self, audio: AudioBytes | str | os.PathLike[str]) -> None:
        """The caller says ``audio`` (16-bit PCM at the call's rate, or a WAV file):
        one frame a tick, the clock advancing as it plays."""
        pcm = _prompt_pcm(audio, None, self.call.sample_rate)
        size = self.call.frame_bytes
        frames = [pcm[i : i + size] for i in range(0, len(pcm), size)]
        if frames and len(frames[-1]) < size:
            frames[-1] += bytes(size - len(frames[-1]))
        self._caller.extend(frames)
        await self.advance(len(frames) * TICK)

    async def send_dtmf(self, digits: str) -> None:
        """The caller presses ``digits``, one event each, a tick apart."""
        for digit in digits:
            await self.send_event(Dtmf(digit, 1))
            await self.advance(TICK)

    async def send_event(self, event: CallEvent) -> None:
        """Any event, as the handler would get it from Vonage."""
        if self.ended is not None or self._handler is None:
            return
        self.events_sent.append(event)
        try:
            await self._wait(self._handler.on_event(event))
        except Exception as exc:
            self.fail(exc)
        await self._settle()

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the tester's clock, a 20 ms tick at a time.

        Each tick the handler gets the caller's next frame (silence when nothing was
        queued), one frame of what it plays is heard, and answers come due.
        """
        for _ in range(round(seconds / TICK)):
            if self.ended is not None:
                return
            self.now += TICK
            frame = self._caller.popleft() if self._caller else bytes(self.call.frame_bytes)
            await self._deliver(frame)
            self._tick_outbox()
            await self._settle()

    # What the handler did

    @property
    def sent_pcm(self) -> bytes:
        """What the caller heard, as one PCM buffer."""
        return b"".join(self.sent_frames)

    @property
    def sent_seconds(self) -> float:
        """Seconds of audio the caller heard."""
        return len(self.sent_frames) * TICK

    def fail_request(self, action: str, error: BaseException | None = None) -> None:
        """Make the next ``action`` request (``hangup``, ``transfer``, ``say``, ``dtmf``)
        raise ``error`` (by default a ``CallControlError`` with status 500)."""
        self._failures[action].append(error or CallControlError(f"{action}: 500", status=500))

    # Called by TestCall

    def request(self, action: str, *args: Any) -> None:
        """Record a request; raise the failure queued for it, if any."""
        self.requests.append(Request(action, args))
        if self._failures[action]:
            raise self._failures[action].pop(0)

    def heard_frame(self, frame: bytes) -> None:
        """A frame reached the caller."""
        if self.ended is None:
            self.sent_frames.append(frame)

    def queue_prompt(self, pcm: bytes) -> asyncio.Future[bool]:
        """A prompt leaves a frame a tick from now on."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.ended is not None:
            done.set_result(False)
        else:
            self._outbox.queue.append(_Prompt(pcm, done))
        return done

    def queue_mark(self, payload: Mapping[str, Any] | None, timeout: float | None) -> Any:
        """A played() (``payload`` None) or a notify, answered once what is before it played."""
        done = None if payload is not None else asyncio.get_running_loop().create_future()
        if self.ended is not None and done is not None:
            done.set_result(False)
            return done
        ahead = sum(len(p.pcm) - p.pos for p in self._outbox.queue if isinstance(p, _Prompt))
        duration = ahead / (2 * self.call.sample_rate)
        wait = timeout if timeout is not None else duration + 2.0
        self._outbox.queue.append(_Mark(done, payload, self.now + wait))
        self._tick_marks()
        return done

    def clear(self) -> None:
        """Drop the queue: pending plays and played() return False."""
        self.controls.append(("clear",))
        self._outbox.drop()
        if self._handler is not None:
            asyncio.get_running_loop().call_soon(self._answer_cleared)

    def fail(self, exc: BaseException) -> None:
        """The handler raised: the call ends with 1011, as the server does."""
        if self.failure is None:
            self.failure = exc
        self.end_soon(Outcome.FAILED, CloseCode.INTERNAL_ERROR, "call handler failed")

    def end_soon(self, outcome: Outcome, code: int, reason: str) -> None:
        """End the call once the current handler step has returned."""
        if self.ended is None and self._waiting is None:
            self._waiting = asyncio.ensure_future(self._end(CallEnd(code, reason, outcome)))

    # Inside

    async def _deliver(self, frame: bytes) -> None:
        if self._handler is None:
            return
        try:
            await self._wait(self._handler.on_audio(frame))
        except Exception as exc:
            self.fail(exc)

    def _tick_outbox(self) -> None:
        queue = self._outbox.queue
        size = self.call.frame_bytes
        while queue and isinstance(queue[0], _Prompt):
            prompt = queue[0]
            if prompt.done.done():  # cancelled by the handler
                queue.popleft()
                continue
            frame = prompt.pcm[prompt.pos : prompt.pos + size]
            self.heard_frame(frame + bytes(size - len(frame)))
            prompt.pos += size
            if prompt.pos >= len(prompt.pcm):
                queue.popleft()
                prompt.done.set_result(True)
            break
        self._tick_marks()

    def _tick_marks(self) -> None:
        queue = self._outbox.queue
        for item in self._outbox.pending():
            if not isinstance(item, _Mark) or item.done is None or item.done.done():
                continue
            if item.deadline is not None and self.now >= item.deadline:
                item.done.set_result(False)  # the played() timed out
        while queue and isinstance(queue[0], _Mark):
            mark = queue.popleft()
            assert isinstance(mark, _Mark)  # noqa: S101 - narrowed for the type checker
            if self._drop_notify:
                if mark.done is not None and not mark.done.done():
                    self._outbox.unanswered.append(mark)  # no answer: its timeout settles it
                continue
            if mark.done is not None and not mark.done.done():
                mark.done.set_result(True)
            elif mark.payload is not None:
                asyncio.get_running_loop().call_soon(self._answer_notify, dict(mark.payload))

    def _answer_notify(self, payload: dict[str, Any]) -> None:
        self._background(self.send_event(Notified(payload)))

    def _answer_cleared(self) -> None:
        self._background(self.send_event(Cleared()))

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _wait(self, pending: MaybeAwaitable) -> None:
        if pending is not None:
            await pending

    async def _settle(self) -> None:
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)
        if self._waiting is not None:
            await self._waiting

    async def _end(self, end: CallEnd) -> None:
        if self.ended is not None:
            return
        self.ended = end
        tasks = self.call.end()
        self._outbox.drop()
        if tasks:  # the cancelled tasks run their cleanup before on_end, as on the server
            await asyncio.wait(tasks, timeout=5.0)
        if self._handler is not None:
            try:
                await self._wait(self._handler.on_end(end))
            except Exception as exc:
                self.failure = self.failure or exc


def _action(action: Any) -> dict[str, Any]:
    """An NCCO action as Vonage gets it: a vonage-voice model dumped, or a dict as is."""
    if hasattr(action, "model_dump"):
        dumped: dict[str, Any] = action.model_dump(by_alias=True, exclude_none=True)
        return dumped
    return dict(action)


def _prompt_pcm(audio: PromptSource, rate: int | None, call_rate: int) -> bytes:
    """16-bit PCM at the call's rate, from PCM at ``rate`` or a WAV file."""
    if isinstance(audio, (str, os.PathLike)):
        with wave.open(os.fspath(audio), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise ValueError(f"{Path(audio).name}: the tester takes 16-bit mono WAV files")
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    else:
        pcm = bytes(audio)
    if rate is not None and rate != call_rate:
        from audio_socket.prompts import resample  # noqa: PLC0415 - numpy only when needed

        pcm = resample(pcm, rate, call_rate)
    return pcm
