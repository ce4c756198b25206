"""``AUDIO_HANDLER``: from its value to what runs each call, checked once at start-up.

The value is a built-in name (``echo``, ``recorder``, ``barge_in``, ``menu``) or
``module:attribute``. The attribute is one of the two handler forms
(``audio_socket/handler.py``), told apart this way:

- a coroutine function (``inspect.iscoroutinefunction``) is the coroutine form;
- anything else callable is a class or factory of the callback form, called with
  the ``Call`` if it takes one positional parameter, or with none if it takes none.

Its ``settings_class`` attribute, when it has one, is a pydantic-settings class
read once here, so a bad variable stops start-up naming the variable; each call
gets the same instance as ``call.settings``. The example handlers are imported only
when named, so ``import audio_socket`` loads none of them (nor numpy).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn, Protocol, cast

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from app_credentials import ConfigurationError, describe_validation_error
from audio_socket.handler import Call, CallCoroutine, CallEnd, CallHandler, StartupHook
from audio_socket.inbox import Inbox
from audio_socket.protocol import CallEvent, CallStart

__all__ = [
    "BUILT_IN",
    "CoroutineHandler",
    "InboxCall",
    "LoadedHandler",
    "find_handler",
    "load_handler",
    "prepare_handler",
]

#: The built-in handlers, by the name ``AUDIO_HANDLER`` gives them.
BUILT_IN: Final = {
    "echo": "audio_socket.handlers.echo:echo",
    "recorder": "audio_socket.handlers.recorder:recorded_echo",
    "barge_in": "audio_socket.handlers.barge_in:BargeInHandler",
    "menu": "audio_socket.handlers.menu:menu",
}
_VARIABLE: Final = "AUDIO_HANDLER"
#: Seconds a coroutine handler may run on after its call ended.
END_GRACE: Final = 5.0

log = logging.getLogger("audio_socket")


class InboxCall(Call, Protocol):
    """A call that can run a coroutine handler: the server's, and the test double's."""

    def open_inboxes(self) -> tuple[Inbox[bytes], Inbox[CallEvent]]:
        """The inboxes ``audio()`` and ``events()`` read, made now."""
        ...

    def fail(self, exc: BaseException) -> None:
        """The handler raised while the call was live: close it with 1011."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedHandler:
    """What ``AUDIO_HANDLER`` named, ready to make one handler per call."""

    spec: str
    form: Literal["callback", "coroutine"]
    #: The handler's own settings, or None: each call's ``call.settings``.
    settings: Any
    _make: Callable[[Call], CallHandler]
    #: What runs, in words for the start-up log line.
    description: str
    #: Awaited once before the service listens (``on_startup``), or None.
    startup: StartupHook | None = None

    def new(self, call: Call) -> CallHandler:
        """The handler of a call that just started."""
        return self._make(call)


class CoroutineHandler(CallHandler):
    """The coroutine form on the callback interface: frames and events go to inboxes.

    ``on_audio`` is the audio inbox's ``put``, bound once: a frame costs one call and
    a deque append, and wakes the handler only when it waits. When the call ends the
    inboxes close, so ``async for`` loops end and the code after them runs (a last
    log line, saving a transcript); the coroutine gets :data:`END_GRACE` seconds for
    that, then it is cancelled. Tasks it spawned are cancelled at once.
    """

    __slots__ = ("_audio", "_call", "_events", "_run", "_task", "on_audio", "on_event")

    def __init__(self, run: CallCoroutine, call: InboxCall) -> None:
        self._run = run
        self._call = call
        self._task: asyncio.Task[None] | None = None
        self._audio, self._events = call.open_inboxes()
        self.on_audio = self._audio.put  # type: ignore[assignment]
        self.on_event = self._events.put  # type: ignore[assignment]

    def on_start(self, call: Call, start: CallStart) -> None:
        """Start the coroutine."""
        task = self._task = asyncio.get_running_loop().create_task(
            self._main(), name=f"handler {call.call_uuid}"
        )
        task.add_done_callback(self._done)

    async def on_end(self, end: CallEnd) -> None:
        """Let the coroutine finish what follows its loops, for a while, then cancel it."""
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=END_GRACE)
        if not done:
            log.warning(
                "call handler still running after the call ended: cancelled",
                extra={"call_uuid": self._call.call_uuid, "grace_s": END_GRACE},
            )
            task.cancel()
            await asyncio.wait({task})

    async def _main(self) -> None:
        try:
            await self._run(self._call)
        finally:  # returned, raised or cancelled: frames from now on are dropped
            self._audio.finish()
            self._events.finish()

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._call.fail(exc)


def load_handler(spec: str) -> LoadedHandler:
    """What ``AUDIO_HANDLER=spec`` names, with its settings read.

    Raises:
        ConfigurationError: Naming ``AUDIO_HANDLER`` and what it found, or each bad
            variable of the handler's settings.
    """
    return prepare_handler(find_handler(spec), spec)


def find_handler(spec: str) -> object:
    """What ``AUDIO_HANDLER=spec`` names, imported and checked to be a handler form.

    Its settings are not read: the service's settings check the spec with their own
    variables, so one start-up names every bad one (``settings.py``).

    Raises:
        ConfigurationError: Naming ``AUDIO_HANDLER`` and what it found.
    """
    target = _import(BUILT_IN.get(spec, spec))
    if not inspect.iscoroutinefunction(target):
        _factory(spec, target)
    return target


def prepare_handler(target: object, spec: str, settings: Any = None) -> LoadedHandler:
    """``target`` (either form) ready to make one handler per call.

    Its ``settings_class`` is read now, unless ``settings`` are given (a test's).
    """
    if settings is None:
        settings = _read_settings(getattr(target, "settings_class", None))
    description = _describe(spec, settings)
    if inspect.iscoroutinefunction(target):
        run: CallCoroutine = target

        def coroutine_handler(call: Call) -> CallHandler:
            return CoroutineHandler(run, cast(InboxCall, call))

        return LoadedHandler(
            spec, "coroutine", settings, coroutine_handler, description, _startup(target)
        )
    return LoadedHandler(
        spec, "callback", settings, _factory(spec, target), description, _startup(target)
    )


def _startup(target: object) -> StartupHook | None:
    hook = getattr(target, "startup", None)
    if hook is not None and not callable(hook):
        _refuse(f"its startup must be a coroutine function, not {type(hook).__name__}")
    return hook


def _import(spec: str) -> object:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        names = ", ".join(repr(name) for name in BUILT_IN)
        _refuse(f"expected {names} or module:attribute, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken handler module is a configuration error too
        _refuse(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}")
    target: object = module
    for name in attribute.split("."):
        target = getattr(target, name, None)
    if target is None:
        _refuse(f"{module_name!r} has no attribute {attribute!r}")
    return target


def _factory(spec: str, target: object) -> Callable[[Call], CallHandler]:
    if not callable(target):
        _refuse(
            f"{spec!r} is not a handler class, factory or coroutine function"
            f" (found {type(target).__name__})"
        )
    takes = _positional_parameters(target)
    if takes > 1:
        _refuse(f"{spec!r} must take the Call or nothing, but takes {takes} arguments")
    factory = cast(Callable[..., CallHandler], target)
    return factory if takes == 1 else lambda call: factory()


def _positional_parameters(target: Callable[..., object]) -> int:
    """Required positional parameters of ``target`` (a class: of its constructor)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called with none
        return 0
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def _read_settings(settings_class: object) -> Any:
    if settings_class is None:
        return None
    if not (isinstance(settings_class, type) and issubclass(settings_class, BaseSettings)):
        _refuse(f"its settings_class must be a pydantic-settings class, not {settings_class!r}")
    try:
        return settings_class()
    except ValidationError as exc:
        prefix = str(settings_class.model_config.get("env_prefix") or "")
        raise ConfigurationError(describe_validation_error(exc, prefix)) from None


def _describe(spec: str, settings: Any) -> str:
    """``echo``, ``delayed echo (200 ms)``, ``recorder of the echo``, or the spec."""
    describe = getattr(settings, "describe", None)
    return str(describe()) if callable(describe) else spec


def _refuse(what: str) -> NoReturn:
    raise ConfigurationError([(_VARIABLE, what)])
