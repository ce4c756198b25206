"""Caddy for the local stack: the placeholders of caddy/Caddyfile, and its admin API.

The admin API can load any config, a file server over the state folder included, so
it listens on a unix socket inside that 0700 folder: only this user reaches it
(docs/security.md), never a TCP port another local user could use.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from stack.paths import CADDYFILE, StatePaths

__all__ = [
    "MAX_SOCKET_PATH_BYTES",
    "CaddyAdmin",
    "CaddyPlaceholders",
    "caddy_argv",
    "caddy_environment",
]

LOOPBACK: Final = "127.0.0.1"
ADMIN_TIMEOUT: Final = 10.0
#: sun_path is 108 bytes on Linux, its terminating NUL included.
MAX_SOCKET_PATH_BYTES: Final = 107


@dataclass(frozen=True)
class CaddyPlaceholders:
    """Values for caddy/Caddyfile's ``{$VAR}`` placeholders on loopback."""

    https_port: int
    http_port: int
    #: The admin API's unix socket (absolute), in the state folder.
    admin_socket: Path
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
            # Caddy's network address form for a unix socket: unix/ + the absolute path.
            "CADDY_ADMIN": f"unix/{self.admin_socket}",
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
    """Caddy's admin API on its unix socket."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        #: Requests go through the socket; the host is Caddy's default admin origin.
        self.url = "http://localhost"

    def _client(self, timeout: float = ADMIN_TIMEOUT) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        return httpx.Client(
            transport=transport, base_url=self.url, timeout=timeout, trust_env=False
        )

    def is_up(self) -> bool:
        """Whether the admin API answers."""
        # httpcore leaks the socket of a unix connect that fails: try a plain one first.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(self.socket))
            except OSError:
                return False
        try:
            with self._client(timeout=1.0) as client:
                return client.get("/config/").is_success
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        """Caddy's own Prometheus metrics (``/metrics`` of the admin API)."""
        with self._client(timeout=2.0) as client:
            response = client.get("/metrics")
        response.raise_for_status()
        return response.text

    def load_caddyfile(self, caddyfile: Path = CADDYFILE) -> None:
        """Reload from the Caddyfile (adapted by Caddy, with its own environment).

        ``must-revalidate`` makes Caddy reload even when the config is unchanged,
        which is what a test of a reload needs.
        """
        with self._client() as client:
            response = client.post(
                "/load",
                content=caddyfile.read_bytes(),
                headers={"Content-Type": "text/caddyfile", "Cache-Control": "must-revalidate"},
            )
        response.raise_for_status()

    def upstreams(self) -> list[dict[str, Any]]:
        """``/reverse_proxy/upstreams``: each upstream's address, requests and fails."""
        with self._client() as client:
            response = client.get("/reverse_proxy/upstreams")
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data
