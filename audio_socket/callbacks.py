"""What a callback returns: nothing, or something for its caller to await.

The per-frame path awaits only when a callback returned an awaitable, so a plain
function (the echo's ``on_audio``) costs no coroutine per frame. The handler interface
and the connection both use this shape.
"""

from __future__ import annotations

from collections.abc import Awaitable

#: ``None`` from a plain function, an awaitable from a coroutine function.
MaybeAwaitable = Awaitable[None] | None
