"""The echo in the coroutine form, for the bench's row beside the callback form's.

``AUDIO_HANDLER=bench.coroutine_echo:echo``: the same work as the built-in echo (every
frame straight back), written as a bot builder would write a handler, so the row
measures what the coroutine form costs per frame: the inbox and a task switch.
"""

from __future__ import annotations

from audio_socket import Call


async def echo(call: Call) -> None:
    """Every frame back, read with ``async for``."""
    send = call.send_audio
    async for frame in call.audio():
        send(frame)
