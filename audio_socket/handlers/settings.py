"""The settings the example handlers declare, apart from the server's own (AUDIO_*).

Each is a pydantic-settings class named by its handler's ``settings_class``: read
once at start-up, where a bad value stops the service naming its variable.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EchoSettings", "MenuSettings", "PromptSettings", "RecorderSettings"]

_CONFIG = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True, frozen=True
)


class EchoSettings(BaseSettings):
    """The echo's: ``ECHO_DELAY_MS`` > 0 makes it the delayed echo."""

    model_config = _CONFIG

    echo_delay_ms: int = Field(0, ge=0, le=10_000)

    def describe(self) -> str:
        """``echo`` or ``delayed echo (N ms)``, for the start-up log line."""
        return f"delayed echo ({self.echo_delay_ms} ms)" if self.echo_delay_ms else "echo"


class RecorderSettings(EchoSettings):
    """The recorder's: the folder of its WAV files, and the echo's own."""

    recorder_dir: Path

    @field_validator("recorder_dir")
    @classmethod
    def _writable(cls, directory: Path) -> Path:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot be created: {exc.strerror}") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ValueError("is not writable by this user")
        return directory

    def describe(self) -> str:
        """``recorder of the echo`` (or of the delayed echo)."""
        return f"recorder of the {super().describe()}"


class PromptSettings(BaseSettings):
    """The barge-in example's: ``PROMPT_WAV``, or synthesised notes without one."""

    model_config = _CONFIG

    prompt_wav: Path | None = None

    @field_validator("prompt_wav")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                with wave.open(str(path), "rb") as wav:
                    width = wav.getsampwidth()
            except (OSError, EOFError, wave.Error) as exc:
                raise ValueError(f"cannot be read as a WAV file: {exc}") from None
            if width != 2:
                raise ValueError(f"must be 16-bit PCM, not {8 * width}-bit")
        return path


class MenuSettings(BaseSettings):
    """The menu's: where ``0`` transfers the call (E.164, no ``+``)."""

    model_config = _CONFIG

    menu_transfer_number: str | None = Field(None, pattern=r"^[1-9]\d{6,14}$")
