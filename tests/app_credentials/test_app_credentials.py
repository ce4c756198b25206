"""The application's credentials and the REST host a call's requests go to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import jwt.algorithms
import pytest
import vonage_http_client  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization

from app_credentials import (
    DEFAULT_API_HOST,
    Application,
    ConfigurationError,
    is_vonage_api_host,
    sdk_auth,
    signing_key,
)
from audio_socket.settings import load_settings
from tests.app_credentials.keys import APP_ID, private_key_pem

SECRET = "s" * 32


@pytest.fixture(scope="module")
def pkcs8() -> str:
    """A PKCS#8 private key, as `make run` and the Vonage dashboard give it."""
    return private_key_pem(serialization.PrivateFormat.PKCS8)


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        load_settings(env_file=None)
    except ConfigurationError as exc:
        return exc.lines()
    return []


def test_no_credentials_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    """All optional: without them the service starts, call control is unavailable."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    assert load_settings(env_file=None).application() is None


def test_key_text_with_escaped_newlines(monkeypatch: pytest.MonkeyPatch, pkcs8: str) -> None:
    """A one-line .env value with \\n escapes is the same key."""
    one_line = pkcs8.strip().replace("\n", "\\n")
    assert _problems(monkeypatch, VONAGE_APPLICATION_ID=APP_ID, VONAGE_PRIVATE_KEY=one_line) == []


def test_key_file(monkeypatch: pytest.MonkeyPatch, pkcs8: str, tmp_path: Path) -> None:
    """VONAGE_PRIVATE_KEY_PATH reads the key from a file."""
    path = tmp_path / "private.key"
    path.write_text(pkcs8)
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("VONAGE_APPLICATION_ID", APP_ID)
    monkeypatch.setenv("VONAGE_PRIVATE_KEY_PATH", str(path))
    application = load_settings(env_file=None).application()
    assert application is not None
    assert application.application_id == APP_ID
    assert "PRIVATE KEY" not in repr(application)  # the key never reaches a log line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VONAGE_PRIVATE_KEY": "x"}, "VONAGE_APPLICATION_ID: required"),
        ({"VONAGE_APPLICATION_ID": APP_ID}, "VONAGE_PRIVATE_KEY: required"),
        ({"VONAGE_APPLICATION_ID": "my-app"}, "VONAGE_APPLICATION_ID: must be"),
        ({"VONAGE_APPLICATION_ID": APP_ID, "VONAGE_PRIVATE_KEY": "junk"}, "must be a PKCS#8"),
        (
            {"VONAGE_APPLICATION_ID": APP_ID, "VONAGE_PRIVATE_KEY_PATH": "/nonexistent/k"},
            "VONAGE_PRIVATE_KEY_PATH: cannot read",
        ),
        ({"VONAGE_API_HOST": "https://api.nexmo.com/"}, "VONAGE_API_HOST: must be host[:port]"),
    ],
)
def test_each_problem_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    """One line per problem, naming the variable; the value is never echoed."""
    lines = _problems(monkeypatch, **env)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("configuration error: ") for line in lines)


def test_pkcs1_is_refused_with_the_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK signs only with PKCS#8; the error says how to convert."""
    pkcs1 = private_key_pem(serialization.PrivateFormat.TraditionalOpenSSL)
    lines = _problems(monkeypatch, VONAGE_APPLICATION_ID=APP_ID, VONAGE_PRIVATE_KEY=pkcs1)
    assert len(lines) == 1
    assert "PKCS#1" in lines[0]
    assert "openssl pkcs8" in lines[0]


def test_key_and_path_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, pkcs8: str, tmp_path: Path
) -> None:
    """Two keys is one too many."""
    (tmp_path / "k").write_text(pkcs8)
    lines = _problems(
        monkeypatch,
        VONAGE_APPLICATION_ID=APP_ID,
        VONAGE_PRIVATE_KEY=pkcs8,
        VONAGE_PRIVATE_KEY_PATH=str(tmp_path / "k"),
    )
    assert any("not both" in line for line in lines)


@pytest.mark.parametrize(
    "host",
    ["api.nexmo.com", "api-eu.vonage.com", "api-us-3.vonage.com", "api-ap-1.vonage.com"],
)
def test_vonage_hosts_are_accepted(host: str) -> None:
    """Vonage's global and regional API hosts."""
    assert is_vonage_api_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "api.vonage.com.evil.example",
        "evil-api.vonage.com",
        "api.vonage.com:8443",
        "API.nexmo.com.",
        "attacker.example",
    ],
)
def test_other_hosts_are_not(host: str) -> None:
    """Nothing else is ever sent the application's JWT because a credential named it."""
    assert not is_vonage_api_host(host)


def test_host_order() -> None:
    """VONAGE_API_HOST, else the credential's region when it is Vonage's, else the default."""
    plain = Application(APP_ID, "key")
    assert plain.host_for(None) == DEFAULT_API_HOST
    assert plain.host_for("api-eu-1.vonage.com") == "api-eu-1.vonage.com"
    assert plain.host_for("127.0.0.1:9") == DEFAULT_API_HOST
    pinned = Application(APP_ID, "key", "127.0.0.1:8444")
    assert pinned.host_for("api-eu-1.vonage.com") == "127.0.0.1:8444"


def test_the_sdk_signs_every_jwt_with_the_key_parsed_once(
    monkeypatch: pytest.MonkeyPatch, pkcs8: str
) -> None:
    """PyJWT would parse the PEM text again for each JWT (cryptography's RSA key check,
    ~50 ms holding the GIL, a stall of every call on the event loop); sdk_auth's JWTs are
    signed with the key parsed once, and verify with the application's public key."""
    parsed: list[bytes] = []
    real = jwt.algorithms.load_pem_private_key  # type: ignore[attr-defined]

    def counting(data: bytes, *args: object, **kwargs: object) -> object:
        parsed.append(data)
        return real(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt.algorithms, "load_pem_private_key", counting)
    app = Application(APP_ID, pkcs8)
    auth = sdk_auth(app)
    tokens = [auth.generate_application_jwt() for _ in range(3)]
    assert parsed == []
    public = signing_key(pkcs8).public_key()
    claims = [jwt.decode(token, public, algorithms=["RS256"]) for token in tokens]
    assert {c["application_id"] for c in claims} == {APP_ID}
    assert len({c["jti"] for c in claims}) == 3
    # The SDK left to itself parses the key for every JWT: what the test guards against.
    vonage_http_client.Auth(application_id=APP_ID, private_key=pkcs8).generate_application_jwt()
    assert len(parsed) == 1


def test_an_sdk_without_the_expected_jwt_client_still_signs(
    monkeypatch: pytest.MonkeyPatch, pkcs8: str, caplog: pytest.LogCaptureFixture
) -> None:
    """If a later SDK moves its JWT client, requests still work and a warning says why
    they cost more."""

    class MovedAuth(vonage_http_client.Auth):  # type: ignore[misc]
        def __init__(self, **kwargs: str) -> None:
            super().__init__(**kwargs)
            self._signer: Any = getattr(self, "_jwt_client")  # noqa: B009
            self._jwt_client = None

        def generate_application_jwt(self, claims: dict[str, object] | None = None) -> bytes:
            return self._signer.generate_application_jwt(claims)  # type: ignore[no-any-return]

    monkeypatch.setattr(vonage_http_client, "Auth", MovedAuth)
    auth = sdk_auth(Application(APP_ID, pkcs8))
    assert (
        jwt.decode(
            auth.generate_application_jwt(), signing_key(pkcs8).public_key(), algorithms=["RS256"]
        )["application_id"]
        == APP_ID
    )
    assert "parses the private key again" in caplog.text


def test_configuration_error_lines() -> None:
    """Each problem becomes one 'configuration error: NAME: what' line."""
    error = ConfigurationError([("A", "bad"), ("B", "worse")])
    assert error.lines() == ["configuration error: A: bad", "configuration error: B: worse"]
