"""What every implementation of ``Call`` shares: the socket's (``call.py``) and the test
double's (``testing.py``). The call's identity, its settings, the coroutine form's
inboxes, and the tasks it owns; each implementation says how it fails and when it is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Final

from audio_socket.inbox import Inbox
from audio_socket.protocol import CallEvent, CallStart

#: Frames a coroutine handler may leave unread: about a second.
AUDIO_INBOX_FRAMES: Final = 50
#: Events it may leave unread (DTMF digits, cleared, notify answers).
EVENT_INBOX_SIZE: Final = 100


class CallBase:
    """The parts of a call that do not depend on where its audio goes."""

    __slots__ = ("_audio", "_events", "_settings", "_start", "_tasks")

    def __init__(self, start: CallStart, settings: Any) -> None:
        self._start = start
        self._settings = settings
        #: The coroutine form's inboxes (``open_inboxes``); the callback form has none.
        self._audio: Inbox[bytes] | None = None
        self._events: Inbox[CallEvent] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def start(self) -> CallStart:
        """The call's first message."""
        return self._start

    @property
    def call_uuid(self) -> str | None:
        """The call uuid from the first message (equal to the credential's)."""
        return self._start.call_uuid

    @property
    def sample_rate(self) -> int:
        """Samples a second."""
        return self._start.sample_rate

    @property
    def frame_bytes(self) -> int:
        """Bytes in one 20 ms frame."""
        return self._start.frame_bytes

    @property
    def settings(self) -> Any:
        """The handler's own settings, read once per process at start-up."""
        return self._settings

    # The coroutine form's view of the call: inboxes fed as messages arrive

    @property
    def frames_dropped(self) -> int:
        """Frames a coroutine handler left unread past its inbox's limit."""
        return self._audio.dropped if self._audio is not None else 0

    def open_inboxes(self) -> tuple[Inbox[bytes], Inbox[CallEvent]]:
        """Make the inboxes ``audio()`` and ``events()`` read (the coroutine form)."""
        uuid = self.call_uuid
        self._audio = Inbox(AUDIO_INBOX_FRAMES, "audio", uuid)
        self._events = Inbox(EVENT_INBOX_SIZE, "events", uuid)
        return self._audio, self._events

    def audio(self) -> AsyncIterator[bytes]:
        """The caller's frames, for a coroutine handler."""
        if self._audio is None:
            raise RuntimeError("call.audio() is for coroutine handlers: frames go to on_audio")
        return self._audio

    def events(self) -> AsyncIterator[CallEvent]:
        """The call's text events, for a coroutine handler."""
        if self._events is None:
            raise RuntimeError("call.events() is for coroutine handlers: events go to on_event")
        return self._events

    # Tasks the call owns

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the call: cancelled at its end, failing it on error."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        if self.is_over():
            task.cancel()  # the call is over: nothing may outlive it
            return task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.fail(exc)

    def end_tasks(self) -> list[asyncio.Task[Any]]:
        """The call ended: the inboxes close and its tasks are cancelled (and returned)."""
        for inbox in (self._audio, self._events):
            if inbox is not None:
                inbox.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    @property
    def tasks(self) -> int:
        """Tasks of the call still running."""
        return len(self._tasks)

    # What each implementation says

    def is_over(self) -> bool:
        """Whether the call has ended (nothing may be spawned then)."""
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        """The handler or a task of the call raised: the call ends with 1011."""
        raise NotImplementedError
