"""Caddy for the local stack: the placeholders of caddy/Caddyfile, and its admin API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from stack.paths import CADDYFILE, StatePaths

__all__ = ["CaddyAdmin", "CaddyPlaceholders", "caddy_argv", "caddy_environment"]

LOOPBACK: Final = "127.0.0.1"
ADMIN_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class CaddyPlaceholders:
    """Values for caddy/Caddyfile's ``{$VAR}`` placeholders on loopback."""

    https_port: int
    http_port: int
    admin_port: int
    webhooks_port: int
    replica_name: str
    audio_port: int
    resolver: str  # host:port of the DNS responder

    @property
    def public_host(self) -> str:
        """``localhost:PORT``: the site address, and the host the NCCO names."""
        return f"localhost:{self.https_port}"

    def as_env(self) -> dict[str, str]:
        """The variables, every one non-empty (an empty one breaks parsing)."""
        values = {
            "PUBLIC_HOST": self.public_host,
            "CADDY_BIND": LOOPBACK,
            "CADDY_HTTPS_PORT": str(self.https_port),
            "CADDY_HTTP_PORT": str(self.http_port),
            "CADDY_ADMIN": f"{LOOPBACK}:{self.admin_port}",
            "WEBHOOKS_UPSTREAM": f"{LOOPBACK}:{self.webhooks_port}",
            "AUDIO_UPSTREAM_NAME": self.replica_name,
            "AUDIO_UPSTREAM_PORT": str(self.audio_port),
            # A whole line of the dynamic upstream (caddy/Caddyfile): the responder.
            "AUDIO_RESOLVERS": f"resolvers {self.resolver}" if self.resolver else "",
        }
        empty = [name for name, value in values.items() if not value]
        if empty:
            raise ValueError(f"empty Caddyfile placeholders: {', '.join(empty)}")
        return values


def caddy_environment(
    placeholders: CaddyPlaceholders, paths: StatePaths, base: Mapping[str, str]
) -> dict[str, str]:
    """Caddy's whole environment: PATH and HOME from ``base``, state folders, placeholders.

    Nothing else from the user's environment reaches Caddy, so a stray empty
    variable cannot break the Caddyfile.
    """
    env = {name: base[name] for name in ("PATH", "HOME", "TZ") if base.get(name)}
    env["XDG_DATA_HOME"] = str(paths.caddy_data)
    env["XDG_CONFIG_HOME"] = str(paths.caddy_config)
    env.update(placeholders.as_env())
    return env


def caddy_argv(caddy: Path, command: str = "run", caddyfile: Path = CADDYFILE) -> list[str]:
    """``caddy run`` (or ``validate``) on the Caddyfile."""
    return [str(caddy), command, "--config", str(caddyfile), "--adapter", "caddyfile"]


class CaddyAdmin:
    """Caddy's admin API, on loopback only."""

    def __init__(self, address: str) -> None:
        self.url = f"http://{address}"

    def is_up(self) -> bool:
        """Whether the admin API answers."""
        try:
            return httpx.get(f"{self.url}/config/", timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    def load_caddyfile(self, caddyfile: Path = CADDYFILE) -> None:
        """Reload from the Caddyfile (adapted by Caddy, with its own environment).

        ``must-revalidate`` makes Caddy reload even when the config is unchanged,
        which is what a test of a reload needs.
        """
        response = httpx.post(
            f"{self.url}/load",
            content=caddyfile.read_bytes(),
            headers={"Content-Type": "text/caddyfile", "Cache-Control": "must-revalidate"},
            timeout=ADMIN_TIMEOUT,
        )
        response.raise_for_status()

    def upstreams(self) -> list[dict[str, Any]]:
        """``/reverse_proxy/upstreams``: each upstream's address, requests and fails."""
        response = httpx.get(f"{self.url}/reverse_proxy/upstreams", timeout=ADMIN_TIMEOUT)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data
