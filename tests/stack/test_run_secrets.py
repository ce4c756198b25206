"""Secrets of a local run: given ones used, missing ones generated, written 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from stack.run_secrets import resolve_secrets, write_secrets_env

GIVEN = "a-signature-secret-given-in-the-environment"


def test_missing_secrets_are_generated_long_and_distinct() -> None:
    """Both generated: at least 32 bytes (the socket key's minimum), never equal."""
    secrets = resolve_secrets({})
    assert secrets.generated == {"VONAGE_SIGNATURE_SECRET", "SOCKET_TOKEN_SECRET"}
    assert len(secrets.socket_token_secret.encode()) >= 32
    assert len(secrets.vonage_signature_secret.encode()) >= 32
    assert secrets.socket_token_secret != secrets.vonage_signature_secret
    assert resolve_secrets({}).socket_token_secret != secrets.socket_token_secret


def test_given_secret_is_used_and_empty_counts_as_missing() -> None:
    """A secret set in the environment is used as is; an empty one is generated."""
    secrets = resolve_secrets({"VONAGE_SIGNATURE_SECRET": GIVEN, "SOCKET_TOKEN_SECRET": ""})
    assert secrets.vonage_signature_secret == GIVEN
    assert secrets.generated == {"SOCKET_TOKEN_SECRET"}
    assert secrets.socket_token_secret


def test_secrets_are_not_in_repr() -> None:
    """A logged or printed StackSecrets shows no secret."""
    secrets = resolve_secrets({"VONAGE_SIGNATURE_SECRET": GIVEN})
    assert GIVEN not in repr(secrets)
    assert secrets.socket_token_secret not in repr(secrets)


def test_written_file_is_private_key_value_lines(tmp_path: Path) -> None:
    """KEY=VALUE lines, mode 0600, replacing an older file."""
    path = tmp_path / "secrets.env"
    path.write_text("old\n")
    path.chmod(0o644)
    secrets = resolve_secrets({"VONAGE_SIGNATURE_SECRET": GIVEN})
    write_secrets_env(path, secrets)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().splitlines() == [
        f"VONAGE_SIGNATURE_SECRET={GIVEN}",
        f"SOCKET_TOKEN_SECRET={secrets.socket_token_secret}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets.env"]
