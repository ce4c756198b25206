""".env.example lists every variable, each with an explanation, and no secret."""

from __future__ import annotations

import re
from pathlib import Path

from audio_socket.settings import AudioSettings
from stack.caddy import CaddyPlaceholders
from stack.paths import REPO_ROOT
from webhooks.settings import Settings

CONFIGURATION = REPO_ROOT / "docs" / "configuration.md"
EXAMPLE = REPO_ROOT / ".env.example"
# A setting line, active or commented out: NAME=value or #NAME=value.
SETTING = re.compile(r"^#?([A-Z][A-Z0-9_]*)=(.*)$")


def _example() -> dict[str, tuple[str, str]]:
    """Each variable of .env.example: (its value, the comment line just above it)."""
    found: dict[str, tuple[str, str]] = {}
    lines = EXAMPLE.read_text().splitlines()
    comment = ""
    for line in lines:
        if match := SETTING.match(line):
            found[match[1]] = (match[2], comment)
        elif line.startswith("# "):
            comment = line
        elif not line.strip():
            comment = ""
    return found


def _documented_variables() -> set[str]:
    rows = [line for line in CONFIGURATION.read_text().splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_documented_variable_is_listed() -> None:
    """docs/configuration.md's table, all of it."""
    assert _documented_variables() - set(_example()) == set()


def test_every_service_setting_is_listed() -> None:
    """Whatever the services read, including settings beyond the contract."""
    settings = {name.upper() for name in (*AudioSettings.model_fields, *Settings.model_fields)}
    assert settings - set(_example()) == set()


def test_every_caddyfile_placeholder_is_listed() -> None:
    """caddy/Caddyfile's variables, and the state folder's."""
    placeholders = CaddyPlaceholders(1, 2, Path("/admin.sock"), 4, "audio", 5, "127.0.0.1:6")
    assert {*placeholders.as_env(), "STACK_STATE_DIR"} - set(_example()) == set()


def test_each_variable_is_explained() -> None:
    """A comment line right above each setting (or its group) says what it is."""
    unexplained = [name for name, (_, comment) in _example().items() if not comment]
    assert unexplained == []


def test_secrets_are_blank() -> None:
    """No secret, not even a placeholder one that might get deployed."""
    example = _example()
    assert example["VONAGE_SIGNATURE_SECRET"][0] == ""
    assert example["SOCKET_TOKEN_SECRET"][0] == ""
