"""The settings both services read alike: the Vonage application's variables and errors.

Each service has one typed settings object (``AudioSettings``, ``Settings``), read once
at start-up. Both inherit ``ApplicationSettings``: the same ``.env`` handling and the
application's variables (all optional; once one is set, every one is checked). A bad or
missing variable becomes one ``configuration error: NAME: what is wrong`` line, and a
value is never quoted, so a secret cannot leak into the message (docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app_credentials.application import Application, load_application

__all__ = ["ApplicationSettings", "ConfigurationError", "describe_validation_error"]


class ConfigurationError(Exception):
    """One or more settings are missing or wrong; start-up stops (exit status 2)."""

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{name}: {what}" for name, what in self.problems))

    def lines(self) -> list[str]:
        """The ``configuration error: NAME: what is wrong`` lines for stderr."""
        return [f"configuration error: {name}: {what}" for name, what in self.problems]


class ApplicationSettings(BaseSettings):
    """The environment and ``.env`` handling, and the Vonage application's variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # VAR= means "not set": compose passes ${VAR:-} for optional variables.
        env_ignore_empty=True,
        frozen=True,
        hide_input_in_errors=True,
    )

    #: Call control through the Voice REST API (``app_credentials/application.py``).
    vonage_application_id: str | None = None
    vonage_private_key: SecretStr | None = None
    vonage_private_key_path: Path | None = None
    vonage_api_host: str | None = None
    #: Seconds one REST request may take (connect and answer) before it has failed.
    vonage_api_timeout: float = Field(5.0, gt=0, le=60)

    def application(self) -> Application | None:
        """The Vonage application, or None without credentials.

        Raises:
            ConfigurationError: Naming each bad variable (both services check at start-up).
        """
        key = self.vonage_private_key
        application, problems = load_application(
            self.vonage_application_id,
            key.get_secret_value() if key is not None else None,
            self.vonage_private_key_path,
            self.vonage_api_host,
        )
        if problems:
            raise ConfigurationError(problems)
        return application


def describe_validation_error(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Each problem pydantic found, as ``(VARIABLE, what is wrong)``, never the value.

    ``prefix`` is the settings class's ``env_prefix``: the variable is prefix + field.
    """
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        name = (prefix + str(error["loc"][0])).upper() if error["loc"] else "CONFIGURATION"
        if error["type"] == "missing":
            what = "required but not set"
        else:
            what = error["msg"].removeprefix("Value error, ")
        problems.append((name, what))
    return problems
