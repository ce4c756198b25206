"""Tests for webhooks.settings: defaults, sources, and one named error per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_credentials import ConfigurationError
from tests.webhooks.conftest import PUBLIC_HOST, SIGNATURE_SECRET, SOCKET_SECRET
from webhooks.settings import Settings, load_settings


def _set_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_HOST", PUBLIC_HOST)
    monkeypatch.setenv("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET)
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SOCKET_SECRET)


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    return dict(caught.value.problems)


def test_defaults_are_the_contracts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset variables take docs/contract.md's defaults."""
    _set_required(monkeypatch)
    settings = load_settings(env_file=None)
    assert settings.verify_signatures is True
    assert settings.signature_max_age == 300
    assert settings.signature_clock_skew == 5
    assert settings.signature_jti_cache_size == 1_000_000
    assert settings.webhooks_allow_get is False
    assert settings.socket_token_ttl == 30
    assert settings.audio_sample_rate == 16000
    assert settings.reconnect_attempts == 3
    assert (settings.webhooks_host, settings.webhooks_port) == ("0.0.0.0", 8000)
    assert settings.log_level == "INFO"
    assert settings.greeting_text
    assert settings.greeting_language == "en-US"
    assert settings.apology_text


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each variable is read from the environment, typed."""
    _set_required(monkeypatch)
    monkeypatch.setenv("AUDIO_SAMPLE_RATE", "8000")
    monkeypatch.setenv("RECONNECT_ATTEMPTS", "5")
    monkeypatch.setenv("WEBHOOKS_PORT", "9001")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("WEBHOOKS_ALLOW_GET", "true")
    monkeypatch.setenv("SIGNATURE_CLOCK_SKEW", "2")
    settings = load_settings(env_file=None)
    assert settings.webhooks_allow_get is True
    assert settings.signature_clock_skew == 2
    assert settings.audio_sample_rate == 8000
    assert settings.content_type == "audio/l16;rate=8000"
    assert settings.reconnect_attempts == 5
    assert settings.webhooks_port == 9001
    assert settings.log_level == "DEBUG"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    """A .env file supplies variables the environment does not."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"PUBLIC_HOST=localhost:8443\nVONAGE_SIGNATURE_SECRET={SIGNATURE_SECRET}\n"
        f"SOCKET_TOKEN_SECRET={SOCKET_SECRET}\nAUDIO_SAMPLE_RATE=24000\n"
    )
    settings = load_settings(env_file=env_file)
    assert settings.public_host == "localhost:8443"
    assert settings.content_type == "audio/l16;rate=24000"


def test_urls_derive_from_public_host_only() -> None:
    """The socket URI and event URL are built from PUBLIC_HOST, lowercased."""
    settings = Settings.model_validate(
        {
            "public_host": "Calls.Example.com:8443",
            "vonage_signature_secret": SIGNATURE_SECRET,
            "socket_token_secret": SOCKET_SECRET,
        }
    )
    assert settings.socket_uri == "wss://calls.example.com:8443/socket"
    assert settings.events_url == "https://calls.example.com:8443/webhooks/events"


def test_missing_required_variables_are_each_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, each required variable gets its own line."""
    problems = _problems(monkeypatch)
    assert set(problems) == {"PUBLIC_HOST", "SOCKET_TOKEN_SECRET", "VONAGE_SIGNATURE_SECRET"}
    assert problems["PUBLIC_HOST"] == "required but not set"


def test_signature_secret_required_without_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """No secret and no VONAGE_VERIFY_SIGNATURES=false refuses to start, naming the secret."""
    monkeypatch.setenv("PUBLIC_HOST", PUBLIC_HOST)
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SOCKET_SECRET)
    problems = _problems(monkeypatch)
    assert problems == {"VONAGE_SIGNATURE_SECRET": "required unless VONAGE_VERIFY_SIGNATURES=false"}


def test_opt_out_allows_no_signature_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """VONAGE_VERIFY_SIGNATURES=false starts without a signature secret."""
    monkeypatch.setenv("PUBLIC_HOST", PUBLIC_HOST)
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SOCKET_SECRET)
    monkeypatch.setenv("VONAGE_VERIFY_SIGNATURES", "false")
    settings = load_settings(env_file=None)
    assert settings.verify_signatures is False
    assert settings.vonage_signature_secret is None


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty value falls back to the default, or is reported as not set."""
    _set_required(monkeypatch)
    monkeypatch.setenv("AUDIO_SAMPLE_RATE", "")
    monkeypatch.setenv("PUBLIC_HOST", "")
    assert _problems(monkeypatch) == {"PUBLIC_HOST": "required but not set"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PUBLIC_HOST", "https://calls.example.com/", "must be host[:port]"),
        ("PUBLIC_HOST", "calls.example.com:70000", "must be host[:port]"),
        ("PUBLIC_HOST", "calls example.com", "must be host[:port]"),
        ("AUDIO_SAMPLE_RATE", "11025", "8000, 16000 or 24000"),
        ("WEBHOOKS_PORT", "http", "valid integer"),
        ("RECONNECT_ATTEMPTS", "0", "greater than or equal to 1"),
        ("SIGNATURE_MAX_AGE", "-5", "greater than or equal to 1"),
        ("SOCKET_TOKEN_TTL", "86400", "less than or equal to 3600"),
        ("VONAGE_VERIFY_SIGNATURES", "perhaps", "valid boolean"),
        ("GREETING_LANGUAGE", "English", "language code"),
        ("APOLOGY_TEXT", "x" * 1501, "at most 1500 characters"),
        ("LOG_LEVEL", "loud", "'DEBUG', 'INFO'"),
    ],
)
def test_bad_value_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    """One bad variable gives exactly one problem, naming it and what is wrong."""
    _set_required(monkeypatch)
    problems = _problems(monkeypatch, **{name: value})
    assert list(problems) == [name]
    assert message in problems[name]


def test_several_bad_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad variable is reported at once, not one per start."""
    _set_required(monkeypatch)
    problems = _problems(monkeypatch, AUDIO_SAMPLE_RATE="1", WEBHOOKS_PORT="x", PUBLIC_HOST="/")
    assert set(problems) == {"AUDIO_SAMPLE_RATE", "WEBHOOKS_PORT", "PUBLIC_HOST"}


def test_short_socket_secret_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SOCKET_TOKEN_SECRET under 32 bytes is refused, and the message never shows it."""
    _set_required(monkeypatch)
    secret = "too-short-secret-value"
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", secret)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    assert caught.value.lines() == [
        "configuration error: SOCKET_TOKEN_SECRET: must be at least 32 bytes"
    ]
    assert secret not in str(caught.value)


def test_one_secret_for_both_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The socket key must differ from the signature secret, or a credential could sign."""
    _set_required(monkeypatch)
    problems = _problems(monkeypatch, SOCKET_TOKEN_SECRET=SIGNATURE_SECRET)
    assert problems == {"SOCKET_TOKEN_SECRET": "must differ from VONAGE_SIGNATURE_SECRET"}


def test_secrets_are_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither secret appears in the settings' repr."""
    _set_required(monkeypatch)
    text = repr(load_settings(env_file=None))
    assert SIGNATURE_SECRET not in text
    assert SOCKET_SECRET not in text
