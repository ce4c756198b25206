"""The two secrets of a local run: taken from the environment, else generated.

The run writes them to ``secrets.env`` in the state folder (mode 0600), where the
simulator finds the signature secret to sign its webhooks (docs/contract.md).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["SECRET_NAMES", "StackSecrets", "resolve_secrets", "write_secrets_env"]

SIGNATURE_SECRET: Final = "VONAGE_SIGNATURE_SECRET"  # noqa: S105 (a variable name)
SOCKET_SECRET: Final = "SOCKET_TOKEN_SECRET"  # noqa: S105 (a variable name)
SECRET_NAMES: Final = (SIGNATURE_SECRET, SOCKET_SECRET)
#: 32 random bytes, URL-safe: 43 characters, over the 32 bytes the socket key needs.
_GENERATED_BYTES: Final = 32


@dataclass(frozen=True)
class StackSecrets:
    """The secrets a run uses; ``generated`` names those made for it."""

    vonage_signature_secret: str = field(repr=False)
    socket_token_secret: str = field(repr=False)
    generated: frozenset[str] = frozenset()

    def as_env(self) -> dict[str, str]:
        """The variables the services read."""
        return {
            SIGNATURE_SECRET: self.vonage_signature_secret,
            SOCKET_SECRET: self.socket_token_secret,
        }


def resolve_secrets(environ: Mapping[str, str]) -> StackSecrets:
    """Each secret from ``environ`` when set and non-empty, else a new random one."""
    values: dict[str, str] = {}
    generated: set[str] = set()
    for name in SECRET_NAMES:
        given = environ.get(name, "")
        if given:
            values[name] = given
        else:
            values[name] = secrets.token_urlsafe(_GENERATED_BYTES)
            generated.add(name)
    return StackSecrets(values[SIGNATURE_SECRET], values[SOCKET_SECRET], frozenset(generated))


def write_secrets_env(path: Path, stack_secrets: StackSecrets) -> None:
    """Write ``KEY=VALUE`` lines readable by this user only, replacing any old file."""
    body = "".join(f"{name}={value}\n" for name, value in stack_secrets.as_env().items())
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    # Created 0600 from the start: the secret is never readable by others, even briefly.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(body)
    partial.replace(path)
