"""AUDIO_HANDLER's two forms told apart, and a handler's own settings read at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app_credentials import ConfigurationError
from audio_socket import Call, CallHandler, with_settings
from audio_socket.loading import load_handler, prepare_handler
from audio_socket.testing import CallTester

MADE: list[str] = []


async def coroutine_handler(call: Call) -> None:
    """The coroutine form."""


class TakesTheCall(CallHandler):
    """A class taking the Call."""

    def __init__(self, call: Call) -> None:
        self.call = call


class TakesNothing(CallHandler):
    """A class taking nothing."""


def factory(call: Call) -> CallHandler:
    """A factory taking the Call."""
    MADE.append("factory")
    return TakesTheCall(call)


class TakesTwo(CallHandler):
    """A class the server cannot make: it takes two arguments."""

    def __init__(self, call: Call, other: int) -> None:
        self.call = call


NOT_CALLABLE = 42


class BotSettings(BaseSettings):
    """A handler's own settings, with a prefix."""

    model_config = SettingsConfigDict(env_prefix="BOT_")

    limit: int = Field(3, ge=1)


@with_settings(BotSettings)
async def bot(call: Call) -> None:
    """A coroutine handler with settings."""
    await call.say(f"limit {call.settings.limit}")


class BotHandler(CallHandler):
    """A class handler declaring its settings."""

    settings_class = BotSettings

    def __init__(self, call: Call) -> None:
        self.limit = call.settings.limit


SPEC = "tests.audio_socket.test_loading"


@pytest.mark.parametrize(
    ("attribute", "form"),
    [
        ("coroutine_handler", "coroutine"),
        ("TakesTheCall", "callback"),
        ("TakesNothing", "callback"),
        ("factory", "callback"),
    ],
)
async def test_each_form_is_recognised(attribute: str, form: str) -> None:
    """A coroutine function is the coroutine form; a class or factory the callback form."""
    loaded = load_handler(f"{SPEC}:{attribute}")
    assert loaded.form == form
    async with CallTester(coroutine_handler) as tester:
        handler = loaded.new(tester.call)
    assert isinstance(handler, CallHandler)
    if attribute in ("TakesTheCall", "factory"):
        assert isinstance(handler, TakesTheCall)
        assert handler.call is tester.call


@pytest.mark.parametrize(
    ("attribute", "found"),
    [
        ("TakesTwo", "takes 2 arguments"),
        ("NOT_CALLABLE", "(found int)"),
    ],
)
def test_other_things_are_refused_naming_the_variable(attribute: str, found: str) -> None:
    """A class taking two arguments, a number: AUDIO_HANDLER and what was found."""
    with pytest.raises(ConfigurationError) as caught:
        load_handler(f"{SPEC}:{attribute}")
    [(variable, what)] = caught.value.problems
    assert variable == "AUDIO_HANDLER"
    assert found in what
    assert attribute in what


async def test_with_settings_gives_the_call_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """@with_settings on a coroutine: read once at load, the call's ``settings``."""
    monkeypatch.setenv("BOT_LIMIT", "7")
    loaded = load_handler(f"{SPEC}:bot")
    assert loaded.settings == BotSettings(limit=7)
    async with CallTester(bot, settings=loaded.settings) as tester:
        assert tester.call.settings is loaded.settings
    assert [r.args for r in tester.requests] == [("limit 7", None)]


async def test_a_settings_class_attribute_does_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """``settings_class`` on a handler class: each call reads the same instance."""
    monkeypatch.setenv("BOT_LIMIT", "9")
    async with CallTester(BotHandler) as tester:
        assert tester.call.settings == BotSettings(limit=9)


@pytest.mark.parametrize("attribute", ["bot", "BotHandler"])
def test_a_bad_setting_stops_loading_naming_the_variable(
    attribute: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOT_LIMIT=0: a ConfigurationError naming BOT_LIMIT, its prefix included."""
    monkeypatch.setenv("BOT_LIMIT", "0")
    with pytest.raises(ConfigurationError) as caught:
        load_handler(f"{SPEC}:{attribute}")
    [(variable, what)] = caught.value.problems
    assert (variable, what) == ("BOT_LIMIT", "Input should be greater than or equal to 1")


def test_a_settings_class_must_be_pydantic_settings() -> None:
    """Anything else as ``settings_class`` is refused, naming AUDIO_HANDLER."""

    @with_settings(dict)
    async def handler(call: Call) -> None:
        pass

    with pytest.raises(ConfigurationError, match="pydantic-settings class") as caught:
        prepare_handler(handler, "handler")
    assert caught.value.problems[0][0] == "AUDIO_HANDLER"


def test_given_settings_are_used_as_they_are() -> None:
    """A test's own settings object replaces reading the class."""
    mine: Any = object()
    assert prepare_handler(bot, "bot", mine).settings is mine
