"""What a coroutine handler has not read yet: a bounded queue it iterates with ``async for``.

The server puts each message in as it arrives and never waits: a handler that
reads slowly, or never, must not hold up the socket nor grow memory without bound.
So an inbox holds at most ``limit`` items; a newer one is dropped and counted, and
the first drop of the call is logged once (a warning when the reader fell behind, a
debug line when it never read: a menu ignores the audio). The iteration ends when the inbox is
closed (the call ended). Single consumer: one ``async for`` at a time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Generic, TypeVar

log = logging.getLogger("audio_socket")

T = TypeVar("T")


class Inbox(Generic[T]):
    """A bounded queue of messages for one reader; dropping, never blocking, when full."""

    __slots__ = (
        "_closed",
        "_items",
        "_limit",
        "_read",
        "_waiter",
        "_what",
        "call_uuid",
        "dropped",
    )

    def __init__(self, limit: int, what: str, call_uuid: str | None = None) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._limit = limit
        self._what = what
        self._waiter: asyncio.Future[T] | None = None
        self._closed = False
        #: Whether the reader has ever asked for an item (a handler may never read audio).
        self._read = False
        self.call_uuid = call_uuid
        #: Items dropped because the inbox was full (or its reader had finished).
        self.dropped = 0

    def put(self, item: T) -> None:
        """Hand ``item`` to the waiting reader, or queue it; drop it when ``limit`` wait."""
        waiter = self._waiter
        if waiter is not None:
            # The reader waits (the usual case, a frame at a time): hand it over directly.
            self._waiter = None
            if not waiter.done():
                waiter.set_result(item)
                return
        if len(self._items) >= self._limit or self._closed:
            self._drop()
            return
        self._items.append(item)

    def close(self) -> None:
        """The call ended: the reader's iteration stops once what waits is read."""
        self._closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(StopAsyncIteration())

    def finish(self) -> None:
        """The reader is gone for good: drop what waits and whatever comes later."""
        self._items.clear()
        self._closed = True

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        # A plain method returning a future, not a coroutine: no coroutine object and
        # frame per item on a path taken 50 times a second per call.
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._items:
            future.set_result(self._items.popleft())
        elif self._closed:
            future.set_exception(StopAsyncIteration())
        else:
            self._read = True
            self._waiter = future
        return future

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 and not self._closed:
            # A reader that fell behind is worth a warning; a handler that never reads
            # this inbox (a menu ignores audio) only a debug line.
            level = logging.WARNING if self._read else logging.DEBUG
            log.log(
                level,
                "handler not reading: newer messages dropped",
                extra={"call_uuid": self.call_uuid, "what": self._what, "limit": self._limit},
            )
