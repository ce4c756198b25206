"""Call handlers, and choosing one from configuration.

``AUDIO_HANDLER`` is ``echo`` (the default: the echo, or the delayed echo when
``ECHO_DELAY_MS`` > 0), one of the examples, or ``module:factory`` naming a
callable that returns a new :class:`~audio_socket.handlers.base.CallHandler`
for each call. The examples, one module each:

- ``recorder``: the echo, recorded to a stereo WAV per leg in ``RECORDER_DIR``
  (``recorder.py``; ``RecordingHandler`` wraps any handler the same way);
- ``barge_in``: a long prompt (``PROMPT_WAV``) that stops when the caller speaks
  (``barge_in.py``);
- ``menu``: a DTMF menu; ``#`` hangs up, ``0`` transfers to
  ``MENU_TRANSFER_NUMBER`` (``menu.py``).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

from audio_socket.handlers.barge_in import BargeInHandler
from audio_socket.handlers.base import CallControl, CallEnd, CallHandler, HandlerFactory
from audio_socket.handlers.delayed_echo import DelayedEchoHandler
from audio_socket.handlers.echo import EchoHandler
from audio_socket.handlers.menu import MenuHandler
from audio_socket.handlers.recorder import RecordingHandler

__all__ = [
    "BUILT_IN",
    "EXAMPLES",
    "RECORDER",
    "BargeInHandler",
    "CallControl",
    "CallEnd",
    "CallHandler",
    "DelayedEchoHandler",
    "EchoHandler",
    "HandlerFactory",
    "HandlerOptions",
    "MenuHandler",
    "RecordingHandler",
    "describe_handler",
    "resolve_handler_factory",
]

BUILT_IN: Final = "echo"
RECORDER, BARGE_IN, MENU = "recorder", "barge_in", "menu"
EXAMPLES: Final = (RECORDER, BARGE_IN, MENU)


@dataclass(frozen=True)
class HandlerOptions:
    """What the example handlers are configured with (checked by the settings)."""

    recorder_dir: Path | None = None
    prompt_wav: Path | None = None
    transfer_number: str | None = None


def describe_handler(spec: str, echo_delay_ms: int) -> str:
    """What ``AUDIO_HANDLER=spec`` runs, in words for logs and the local stack's banner.

    ``echo``, ``delayed echo (200 ms)``, or the ``module:factory`` as given.
    """
    echo = f"delayed echo ({echo_delay_ms} ms)" if echo_delay_ms > 0 else "echo"
    if spec == BUILT_IN:
        return echo
    if spec == RECORDER:
        return f"recorder of the {echo}"
    return spec


def resolve_handler_factory(
    spec: str, echo_delay_ms: int, options: HandlerOptions | None = None
) -> HandlerFactory:
    """Return the handler factory that ``AUDIO_HANDLER=spec`` names.

    Raises:
        ValueError: ``spec`` is malformed, or names nothing callable, or an
            example lacks its setting. The message says what is wrong without
            a traceback.
    """
    options = options or HandlerOptions()
    if spec == BUILT_IN:
        if echo_delay_ms > 0:
            return functools.partial(DelayedEchoHandler, echo_delay_ms)
        return EchoHandler
    if spec == RECORDER:
        if options.recorder_dir is None:
            raise ValueError("AUDIO_HANDLER=recorder needs RECORDER_DIR")
        inner = resolve_handler_factory(BUILT_IN, echo_delay_ms)
        return functools.partial(_recorded, inner, options.recorder_dir)
    if spec == BARGE_IN:
        return functools.partial(BargeInHandler, options.prompt_wav)
    if spec == MENU:
        return functools.partial(MenuHandler, options.transfer_number)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        names = ", ".join(repr(name) for name in (BUILT_IN, *EXAMPLES))
        raise ValueError(f"expected {names} or module:factory, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken handler module is a configuration error too
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    factory: object = module
    for name in attribute.split("."):
        factory = getattr(factory, name, None)
    if not callable(factory):
        # ValueError, not TypeError: pydantic reports only ValueError as a
        # configuration error of the field.
        raise ValueError(f"{spec!r} is not a callable in {module_name!r}")  # noqa: TRY004
    return cast(HandlerFactory, factory)


def _recorded(inner: HandlerFactory, directory: Path) -> CallHandler:
    return RecordingHandler(inner(), directory)
