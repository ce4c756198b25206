"""Call handlers, and choosing one from configuration.

``AUDIO_HANDLER`` is ``echo`` (the default: the echo, or the delayed echo when
``ECHO_DELAY_MS`` > 0) or ``module:factory`` naming a callable that returns a
new :class:`~audio_socket.handlers.base.CallHandler` for each call.
"""

from __future__ import annotations

import functools
import importlib
from typing import Final, cast

from audio_socket.handlers.base import CallControl, CallEnd, CallHandler, HandlerFactory
from audio_socket.handlers.delayed_echo import DelayedEchoHandler
from audio_socket.handlers.echo import EchoHandler

__all__ = [
    "BUILT_IN",
    "CallControl",
    "CallEnd",
    "CallHandler",
    "DelayedEchoHandler",
    "EchoHandler",
    "HandlerFactory",
    "describe_handler",
    "resolve_handler_factory",
]

BUILT_IN: Final = "echo"


def describe_handler(spec: str, echo_delay_ms: int) -> str:
    """What ``AUDIO_HANDLER=spec`` runs, in words for logs and the local stack's banner.

    ``echo``, ``delayed echo (200 ms)``, or the ``module:factory`` as given.
    """
    if spec == BUILT_IN:
        return f"delayed echo ({echo_delay_ms} ms)" if echo_delay_ms > 0 else "echo"
    return spec


def resolve_handler_factory(spec: str, echo_delay_ms: int) -> HandlerFactory:
    """Return the handler factory that ``AUDIO_HANDLER=spec`` names.

    Raises:
        ValueError: ``spec`` is malformed, or names nothing callable. The
            message says what is wrong without a traceback.
    """
    if spec == BUILT_IN:
        if echo_delay_ms > 0:
            return functools.partial(DelayedEchoHandler, echo_delay_ms)
        return EchoHandler
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected {BUILT_IN!r} or module:factory, got {spec!r}")
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
