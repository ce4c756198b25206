"""Defaults found in the local stack's state folder (docs/contract.md).

``python -m stack run`` keeps ``.stack/`` at the repository root
(``STACK_STATE_DIR`` overrides): the secrets it used in ``secrets.env`` and
Caddy's local CA under ``caddy/data``. The simulator reads both so that
``python -m simulator call https://localhost:8443`` needs no options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from simulator.errors import UsageError

ROOT_CERT = Path("caddy/data/caddy/pki/authorities/local/root.crt")
SECRETS = Path("secrets.env")
#: Written by the stack (tools/stack/local_application.py): where its Voice REST API is.
API_ENV = Path("voice-api/api.env")
SECRET_VARIABLE = "VONAGE_SIGNATURE_SECRET"  # noqa: S105 (a name, not a secret)


def find_stack_dir(start: Path | None = None) -> Path | None:
    """``$STACK_STATE_DIR``, else the nearest ``.stack`` folder here or above."""
    if configured := os.environ.get("STACK_STATE_DIR"):
        return Path(configured)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".stack").is_dir():
            return folder / ".stack"
    return None


def default_cafile() -> Path | None:
    """The local stack's root certificate, when it exists."""
    stack = find_stack_dir()
    if stack is not None and (stack / ROOT_CERT).is_file():
        return stack / ROOT_CERT
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped; quotes stripped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_secret_file(path: Path) -> str:
    """The signature secret in ``path``: its ``VONAGE_SIGNATURE_SECRET=`` line, else the
    file's one line.

    Raises:
        UsageError: The file cannot be read or holds no secret.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--secret-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--secret-file {path}: not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any("=" in line for line in lines):
        secret = read_env_file(path).get(SECRET_VARIABLE, "")
    else:
        secret = lines[0] if len(lines) == 1 else ""
    if not secret:
        raise UsageError(
            f"--secret-file {path}: no secret (one line, or a {SECRET_VARIABLE}= line)"
        )
    return secret


def default_secret() -> str | None:
    """``$VONAGE_SIGNATURE_SECRET``, else the one in the local stack's ``secrets.env``."""
    if secret := os.environ.get(SECRET_VARIABLE):
        return secret
    stack = find_stack_dir()
    if stack is None or not (stack / SECRETS).is_file():
        return None
    try:
        return read_env_file(stack / SECRETS).get(SECRET_VARIABLE) or None
    except OSError:
        return None


@dataclass(frozen=True)
class ApiSettings:
    """How to reach the local stack's Voice REST API (``python -m simulator api``)."""

    url: str
    application_id: str
    cafile: Path
    token: str = field(repr=False)


def default_api() -> ApiSettings | None:
    """The local stack's Voice REST API, when its ``voice-api/api.env`` is there."""
    stack = find_stack_dir()
    if stack is None or not (stack / API_ENV).is_file():
        return None
    try:
        values = read_env_file(stack / API_ENV)
    except OSError:
        return None
    host, token = values.get("VONAGE_API_HOST"), values.get("SIMULATOR_API_TOKEN")
    cafile, app = values.get("SIMULATOR_API_CA"), values.get("VONAGE_APPLICATION_ID")
    if not (host and token and cafile and app):
        return None
    return ApiSettings(f"https://{host}", app, Path(cafile), token)
