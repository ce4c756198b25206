"""Caddy's environment in the local stack: every placeholder set, nothing else leaks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stack.caddy import CaddyPlaceholders, caddy_argv, caddy_environment
from stack.paths import CADDYFILE, StatePaths

PLACEHOLDERS = CaddyPlaceholders(
    https_port=8443,
    http_port=18080,
    admin_socket=Path("/srv/calls/.stack/caddy/admin.sock"),
    webhooks_port=18000,
    replica_name="audio.stack.internal",
    audio_port=18765,
    resolver="127.0.0.1:15353",
)


def test_placeholders_cover_the_caddyfile() -> None:
    """Every {$VAR} in caddy/Caddyfile gets a value from the launcher."""
    text = CADDYFILE.read_text()
    for name in PLACEHOLDERS.as_env():
        assert f"{{${name}" in text, name
    assert PLACEHOLDERS.as_env()["PUBLIC_HOST"] == "localhost:8443"
    assert PLACEHOLDERS.as_env()["CADDY_BIND"] == "127.0.0.1"
    assert PLACEHOLDERS.as_env()["CADDY_ADMIN"] == "unix//srv/calls/.stack/caddy/admin.sock"


def test_an_empty_placeholder_is_refused() -> None:
    """A set but empty variable would break parsing, so it is never set."""
    with pytest.raises(ValueError, match="AUDIO_RESOLVERS"):
        dataclasses.replace(PLACEHOLDERS, resolver="").as_env()


def test_environment_keeps_out_the_callers_variables(tmp_path: Path) -> None:
    """Only PATH and HOME pass from the caller; XDG folders point into the state folder."""
    paths = StatePaths(tmp_path)
    base = {"PATH": "/bin", "HOME": "/home/x", "AUDIO_HOST": "0.0.0.0", "CADDY_BIND": ""}
    env = caddy_environment(PLACEHOLDERS, paths, base)
    assert env["AUDIO_UPSTREAM_NAME"] == "audio.stack.internal"
    assert "AUDIO_HOST" not in env
    assert env["CADDY_BIND"] == "127.0.0.1"
    assert env["XDG_DATA_HOME"] == str(tmp_path / "caddy" / "data")
    assert env["XDG_CONFIG_HOME"] == str(tmp_path / "caddy" / "config")
    assert set(env) == {"PATH", "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", *PLACEHOLDERS.as_env()}
    assert all(env.values())


def test_argv_runs_the_repository_caddyfile() -> None:
    """`caddy run` with the Caddyfile adapter on caddy/Caddyfile."""
    argv = caddy_argv(Path("/bin/caddy"))
    assert argv == ["/bin/caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
