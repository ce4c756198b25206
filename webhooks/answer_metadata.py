"""``ANSWER_METADATA=module:function``: a little custom data for the handler.

The function is called with the answer request's parameters (a mapping: ``from``,
``to``, ``uuid``, ``custom_data``, ...) for every answered call, and returns a JSON
object (a dict) or None. It may be a coroutine function; it gets
:data:`TIMEOUT` seconds. The object reaches the handler as ``start.custom`` (it
travels in the endpoint headers, docs/vonage-protocol.md §2), and again after
every reconnect.

Its budget is :data:`~webhooks.call_fields.METADATA_BYTES` (128) bytes as compact
JSON. Over it, not a JSON object, late, or raising: the call is answered without
it and a warning is logged (never its content). The call never fails for it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from webhooks.call_fields import METADATA_BYTES, compact_json

__all__ = ["TIMEOUT", "MetadataHook", "call_metadata_hook", "load_metadata_hook"]

#: Seconds the hook may take: the answer webhook has about 5 s in all (§1).
TIMEOUT: Final = 1.0

MetadataHook = Callable[[Mapping[str, Any]], Any]
log = logging.getLogger("webhooks")


def load_metadata_hook(spec: str) -> MetadataHook:
    """Import ``module:function``; ValueError saying what is wrong."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError("must be module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken module is a configuration error too
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    hook: object = module
    for name in attribute.split("."):
        hook = getattr(hook, name, None)
    if not callable(hook):
        # ValueError: pydantic reports only ValueError as the field's configuration error.
        raise ValueError(f"{spec!r} is not a callable")  # noqa: TRY004
    return hook


async def call_metadata_hook(
    hook: MetadataHook, params: Mapping[str, Any], call_uuid: str
) -> dict[str, Any] | None:
    """The hook's object for this call, or None (with a warning when it misbehaved)."""
    try:
        result = hook(params)
        if inspect.isawaitable(result):
            async with asyncio.timeout(TIMEOUT):
                result = await result
    except TimeoutError:
        return _dropped(call_uuid, f"took more than {TIMEOUT:g} s")
    except Exception as exc:  # the call is answered all the same
        return _dropped(call_uuid, f"raised {type(exc).__name__}")
    return _checked(result, call_uuid)


def _checked(result: object, call_uuid: str) -> dict[str, Any] | None:
    if result is None:
        return None
    if not isinstance(result, dict):
        return _dropped(call_uuid, f"returned {type(result).__name__}, not a dict")
    try:
        size = len(compact_json(result).encode())
    except (TypeError, ValueError):
        return _dropped(call_uuid, "returned something JSON cannot represent")
    if size > METADATA_BYTES:
        return _dropped(call_uuid, f"returned {size} bytes, over its {METADATA_BYTES}-byte budget")
    return result


def _dropped(call_uuid: str, why: str) -> dict[str, Any] | None:
    log.warning("answer metadata left out", extra={"uuid": call_uuid, "reason": why})
    return None
