"""The service's one typed settings object, read once from the environment and ``.env``.

Variables and defaults are docs/contract.md's table. ``load_settings`` turns every
problem into a ``ConfigurationError`` naming the variable, never echoing its value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator

from app_credentials import ApplicationSettings, ConfigurationError, describe_validation_error
from webhooks.answer_metadata import load_metadata_hook

__all__ = ["ContentType", "Settings", "load_settings"]

# A DNS name, IPv4 address or bracketed IPv6 address, then an optional port: what goes
# between "https://" and the path, and nothing else (no scheme, path or credentials).
_HOST_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?"
)
_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_MIN_SOCKET_SECRET_BYTES = 32  # docs/contract.md: the credential key is at least 32 bytes
_MAX_PORT = 65535

# Vonage's talk action takes at most 1500 characters (vonage-voice `Talk.text`).
SpokenText = Annotated[str, Field(min_length=1, max_length=1500)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The websocket endpoint's content-types (docs/vonage-protocol.md §2).
ContentType = Literal["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000"]


class Settings(ApplicationSettings):
    """Configuration of the webhooks service (docs/configuration.md).

    The Vonage application's variables (``python -m webhooks dial``) come from
    ``ApplicationSettings``.
    """

    public_host: str
    # Declared before the secret so the secret's validator can see it.
    vonage_verify_signatures: bool = True
    vonage_signature_secret: SecretStr | None = None
    signature_max_age: int = Field(300, ge=1, le=3600)
    # exp and nbf of a signed webhook: clock skew only, not a second freshness window.
    signature_clock_skew: int = Field(5, ge=0, le=60)
    # ~120 bytes each (118 measured); 1,000,000 holds ~1,650 signed requests/s for 2 x 300 s.
    signature_jti_cache_size: int = Field(1_000_000, ge=1000, le=50_000_000)
    webhooks_allow_get: bool = False
    socket_token_secret: SecretStr
    # Counted from the greeting's estimated end (webhooks/credentials.py).
    socket_token_ttl: int = Field(30, ge=10, le=3600)
    audio_sample_rate: Literal[8000, 16000, 24000] = 16000
    reconnect_attempts: int = Field(3, ge=1, le=10)
    # The defaults name no handler: the same texts fit the echo and whatever replaces it.
    greeting_text: SpokenText = "Please wait while we connect your call."
    greeting_language: str = "en-US"
    apology_text: SpokenText = "Sorry, we could not connect your call. Please try again later."
    webhooks_host: str = "0.0.0.0"
    webhooks_port: int = Field(8000, ge=1, le=_MAX_PORT)
    log_level: LogLevel = "INFO"
    #: ``module:function`` giving a little custom data per call (webhooks/answer_metadata.py).
    answer_metadata: str | None = None

    @field_validator("answer_metadata")
    @classmethod
    def _check_answer_metadata(cls, value: str | None) -> str | None:
        if value is not None:
            load_metadata_hook(value)  # at start-up, not at the first call
        return value

    @field_validator("public_host")
    @classmethod
    def _check_public_host(cls, value: str) -> str:
        host = value.strip().lower()
        match = _HOST_RE.fullmatch(host)
        port = match and match.group("port")
        if not match or (port and not 0 < int(port) <= _MAX_PORT):
            raise ValueError(
                "must be host[:port] with no scheme or path, e.g. calls.example.com "
                "or localhost:8443"
            )
        return host

    @field_validator("vonage_signature_secret", mode="after")
    @classmethod
    def _require_signature_secret(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # When VONAGE_VERIFY_SIGNATURES itself is invalid it is reported on its own.
        verify = info.data.get("vonage_verify_signatures", False)
        if value is None and verify:
            raise ValueError("required unless VONAGE_VERIFY_SIGNATURES=false")
        return value

    @field_validator("socket_token_secret", mode="after")
    @classmethod
    def _check_socket_secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret.encode()) < _MIN_SOCKET_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_SOCKET_SECRET_BYTES} bytes")
        signing = info.data.get("vonage_signature_secret")
        # One key for both would let a socket credential pass as a signed webhook.
        if isinstance(signing, SecretStr) and signing.get_secret_value() == secret:
            raise ValueError("must differ from VONAGE_SIGNATURE_SECRET")
        return value

    @field_validator("greeting_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if not _LANGUAGE_RE.fullmatch(value):
            raise ValueError("must be a language code such as en-US or en-GB")
        return value

    @field_validator("audio_sample_rate", mode="before")
    @classmethod
    def _parse_sample_rate(cls, value: Any) -> Any:
        # The environment gives strings; a Literal of ints does not coerce them itself.
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def verify_signatures(self) -> bool:
        """Whether signed webhooks are checked (docs/vonage-protocol.md §6)."""
        return self.vonage_verify_signatures

    @property
    def socket_uri(self) -> str:
        """The websocket endpoint every NCCO connects to."""
        return f"wss://{self.public_host}/socket"

    @property
    def events_url(self) -> str:
        """The connect action's synchronous ``eventUrl`` (docs/vonage-protocol.md §2, §4)."""
        return f"https://{self.public_host}/webhooks/events"

    @property
    def content_type(
        self,
    ) -> Literal["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000"]:
        """The websocket endpoint's ``content-type`` (docs/vonage-protocol.md §2)."""
        match self.audio_sample_rate:
            case 8000:
                return "audio/l16;rate=8000"
            case 16000:
                return "audio/l16;rate=16000"
            case 24000:
                return "audio/l16;rate=24000"


def load_settings(env_file: Path | str | None = ".env") -> Settings:
    """Read the settings once, raising ``ConfigurationError`` naming each bad variable."""
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
    settings.application()  # the credentials are checked at start-up
    return settings
