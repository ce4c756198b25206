"""The audio service's settings: environment variables and ``.env``, read once.

Every limit has a safe default. A bad or missing variable stops start-up with
one ``configuration error: NAME: what is wrong`` line each (docs/contract.md);
values are never echoed, so a secret cannot leak into the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator

from app_credentials import ApplicationSettings, ConfigurationError, describe_validation_error
from audio_socket.loading import LoadedHandler, find_handler, load_handler

MIN_SECRET_BYTES = 32

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class AudioSettings(ApplicationSettings):
    """Configuration of ``python -m audio_socket``. Field ``x_y`` is variable ``X_Y``.

    The Vonage application's variables (call control) come from ``ApplicationSettings``.
    """

    audio_host: str = "0.0.0.0"
    #: 0 picks a free port (tests); the bound port is logged at start-up.
    audio_port: int = Field(8765, ge=0, le=65535)
    socket_token_secret: SecretStr
    audio_handler: str = Field("echo", min_length=1)
    max_calls: int = Field(500, ge=1)
    max_message_bytes: int = Field(65536, ge=1024)
    drain_timeout: float = Field(30.0, ge=0)
    #: Seconds from TCP accept to an accepted ``websocket:connected``.
    handshake_timeout: float = Field(10.0, gt=0)
    ping_interval: float = Field(20.0, gt=0)
    ping_timeout: float = Field(20.0, gt=0)
    #: Seconds a closing handshake may take before the TCP connection is aborted.
    close_timeout: float = Field(10.0, gt=0)
    #: Seconds the outbound buffer may stay full before the call is aborted.
    send_timeout: float = Field(10.0, gt=0)
    #: High-water mark of a call's outbound buffer; the hard cap is 4 times it.
    outbound_buffer_bytes: int = Field(65536, ge=4096)
    #: Milliseconds of a prompt sent ahead of real time (play(): playout.py).
    playout_lead_ms: int = Field(200, ge=20, le=2000)
    log_level: LogLevel = "INFO"
    #: ``uvloop`` (C event loop: about a third less CPU per frame) or ``asyncio``;
    #: ``auto`` takes uvloop when it is installed.
    audio_event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    @field_validator("socket_token_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes")
        return value

    @field_validator("audio_handler")
    @classmethod
    def _handler_found(cls, value: str) -> str:
        # Checked here, with the other variables, so one start-up names every bad one;
        # the handler's own settings are read by handler().
        try:
            find_handler(value)
        except ConfigurationError as exc:
            raise ValueError("; ".join(what for _, what in exc.problems)) from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("audio_event_loop")
    @classmethod
    def _loop_available(cls, value: str) -> str:
        if value == "uvloop" and _uvloop_factory() is None:
            raise ValueError("uvloop is not installed")
        return value

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """The event loop ``AUDIO_EVENT_LOOP`` selects; ``None``: asyncio's own."""
        if self.audio_event_loop == "asyncio":
            return None
        return _uvloop_factory()

    def handler(self) -> LoadedHandler:
        """What ``AUDIO_HANDLER`` names, with its own settings read (once per call of this).

        Raises:
            ConfigurationError: Naming ``AUDIO_HANDLER`` or the handler's variables.
        """
        return load_handler(self.audio_handler)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # noqa: PLC0415 - optional: the fast path when installed
    except ImportError:
        return None
    return uvloop.new_event_loop


def load_settings(env_file: str | None = ".env") -> AudioSettings:
    """Read the settings from the environment and ``env_file``.

    Raises:
        ConfigurationError: Naming each bad or missing variable.
    """
    try:
        settings = AudioSettings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
    settings.application()  # the credentials are checked now, not at the first hang-up
    return settings
