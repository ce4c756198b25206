"""The built-in handlers: examples of the handler API, one module each.

``AUDIO_HANDLER`` names one of them, or ``module:attribute`` of your own
(``audio_socket/loading.py`` resolves it; docs/handlers.md is the guide):

- ``echo`` (the default): every frame back at once, or ``ECHO_DELAY_MS`` later
  (``echo.py``, ``delayed_echo.py``);
- ``recorder``: the echo, recorded to a stereo WAV per leg in ``RECORDER_DIR``
  (``recorder.py``; ``RecordingHandler`` wraps any handler the same way);
- ``barge_in``: a long prompt (``PROMPT_WAV``) that stops when the caller speaks
  (``barge_in.py``);
- ``menu``: a DTMF menu in the coroutine form; ``#`` hangs up, ``0`` transfers to
  ``MENU_TRANSFER_NUMBER`` (``menu.py``).

Each imports only the public API (``audio_socket``, ``audio_socket.ncco``) and
this folder's settings and sounds. Nothing here is imported until it is named.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BUILT_IN", "EXAMPLES", "describe_handler"]

#: The default ``AUDIO_HANDLER``.
BUILT_IN: Final = "echo"
EXAMPLES: Final = ("recorder", "barge_in", "menu")


def describe_handler(spec: str, echo_delay_ms: int) -> str:
    """What ``AUDIO_HANDLER=spec`` runs, in words, without importing it (a banner's line).

    ``echo``, ``delayed echo (200 ms)``, ``recorder of the echo``, or the spec as given.
    """
    echo = f"delayed echo ({echo_delay_ms} ms)" if echo_delay_ms > 0 else "echo"
    if spec == BUILT_IN:
        return echo
    if spec == "recorder":
        return f"recorder of the {echo}"
    return spec
