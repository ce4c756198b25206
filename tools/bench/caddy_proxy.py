"""Caddy in front of one echo server, with the settings under study.

The site mirrors the ``/socket`` route of caddy/Caddyfile (reverse_proxy with
``stream_timeout`` and ``stream_close_delay``; a static upstream instead of the
DNS one, which costs per connection, not per frame), so one Caddy and one
Caddyfile shape serve audio_socket and the Node peer alike. Each
:class:`CaddyVariant` changes one thing from the project's settings.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from bench.procs import LOOPBACK, Process, Processes, free_port, wait_ready
from stack.paths import find_tool

CADDY_READY_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class CaddyVariant:
    """One way of running Caddy: what differs from the project's Caddyfile."""

    name: str
    tls: bool = True
    #: Lines added to the global ``servers`` block.
    servers: tuple[str, ...] = ()
    #: Lines added inside ``reverse_proxy``.
    proxy: tuple[str, ...] = ()
    #: Lines inside ``transport http``.
    transport: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


#: The project's settings (TLS from the local CA, HTTP/1.1 + HTTP/2 + HTTP/3 offered).
BASELINE: Final = CaddyVariant("as caddy/Caddyfile (TLS)")
VARIANTS: Final = (
    BASELINE,
    CaddyVariant("plain HTTP (no TLS to Caddy)", tls=False),
    CaddyVariant("TLS, protocols h1 only", servers=("protocols h1",)),
    CaddyVariant("TLS, flush_interval -1", proxy=("flush_interval -1",)),
    CaddyVariant(
        "TLS, 64 KiB proxy buffers", transport=("read_buffer 64KiB", "write_buffer 64KiB")
    ),
    CaddyVariant("TLS, GOGC=400", env={"GOGC": "400"}),
    CaddyVariant("TLS, GOMAXPROCS=1", env={"GOMAXPROCS": "1"}),
)


@dataclass(frozen=True)
class Caddy:
    """A started Caddy proxying ``/socket`` to one upstream."""

    process: Process
    variant: CaddyVariant
    port: int
    cafile: Path | None

    @property
    def socket_uri(self) -> str:
        """The socket through Caddy (``wss://`` with TLS)."""
        scheme = "wss" if self.variant.tls else "ws"
        return f"{scheme}://localhost:{self.port}/socket"


def render_caddyfile(variant: CaddyVariant, port: int, admin: int, upstream: int) -> str:
    """The Caddyfile of one variant."""
    servers = "".join(f"\t\t{line}\n" for line in variant.servers)
    transport = "".join(f"\t\t\t\t{line}\n" for line in variant.transport)
    proxy = "".join(f"\t\t\t{line}\n" for line in variant.proxy)
    if transport:
        proxy += f"\t\t\ttransport http {{\n{transport}\t\t\t}}\n"
    site = f"localhost:{port}" if variant.tls else f"http://localhost:{port}"
    return (
        "{\n"
        f"\tadmin {LOOPBACK}:{admin}\n"
        f"\tdefault_bind {LOOPBACK}\n"
        f"\thttp_port {free_port() if variant.tls else port}\n"
        f"\thttps_port {port if variant.tls else free_port()}\n"
        "\tskip_install_trust\n"
        "\tauto_https disable_redirects\n"
        f"\tservers {{\n\t\tstrict_sni_host on\n{servers}\t}}\n"
        "}\n\n"
        f"{site} {{\n"
        "\thandle /socket {\n"
        f"\t\treverse_proxy {LOOPBACK}:{upstream} {{\n"
        f"{proxy}"
        "\t\t\tstream_timeout 2h5m\n"
        "\t\t\tstream_close_delay 2h5m\n"
        "\t\t}\n"
        "\t}\n"
        "\thandle {\n\t\trespond 404\n\t}\n"
        "}\n"
    )


def start_caddy(
    procs: Processes, variant: CaddyVariant, upstream: int, state: Path, cpus: set[int]
) -> Caddy:
    """Start Caddy for ``variant`` in front of ``127.0.0.1:upstream``; wait until it serves."""
    port, admin = free_port(), free_port()
    state.mkdir(parents=True, exist_ok=True)
    caddyfile = state / "Caddyfile"
    caddyfile.write_text(render_caddyfile(variant, port, admin, upstream))
    env = dict(os.environ) | variant.env
    env |= {"XDG_DATA_HOME": str(state / "data"), "XDG_CONFIG_HOME": str(state / "config")}
    argv = [str(find_tool("caddy")), "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
    process = procs.start("caddy", argv, env=env, cpus=cpus)
    cafile = state / "data/caddy/pki/authorities/local/root.crt" if variant.tls else None

    def serving() -> bool:
        url, verify = f"http://localhost:{port}/", ssl.create_default_context()
        if cafile is not None:
            if not cafile.is_file():
                return False
            url, verify = f"https://localhost:{port}/", ssl.create_default_context(cafile=cafile)
        return httpx.get(url, verify=verify, timeout=2, trust_env=False).status_code == 404

    wait_ready(process, serving, CADDY_READY_TIMEOUT)
    return Caddy(process, variant, port, cafile)
