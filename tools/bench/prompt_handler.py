"""The bench's prompt handler: each call plays one long prompt through ``play()``.

``make bench`` runs audio_socket with it (``AUDIO_HANDLER=bench.prompt_handler:
PromptHandler``) beside the echo, to compare the CPU each spends per frame sent to
the caller: the echo sends a frame as one arrives, the prompt's frames leave on
the playout clock's tick (``audio_socket/playout.py``). The caller's frames still
arrive and are dropped, as a bot that is talking would drop them.
"""

from __future__ import annotations

from typing import Final

from audio_socket import Call, CallHandler
from audio_socket.handlers.sounds import long_prompt

#: Longer than any bench call, so each call is playing from start to end.
PROMPT_SECONDS: Final = 600.0
#: Built when the server imports this module, before the bench samples its memory.
long_prompt(16000, PROMPT_SECONDS)


class PromptHandler(CallHandler):
    """Play the long prompt; ignore the caller."""

    __slots__ = ()

    def __init__(self, call: Call) -> None:
        """Queue the prompt (shared by every call at this rate: it is sliced, not copied).

        Nothing awaits the play: it returns False when the call ends.
        """
        call.play(long_prompt(call.sample_rate, PROMPT_SECONDS))
