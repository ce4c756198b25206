"""Ports: which are free, one the OS picks, and a run's ports, checked before anything starts."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from stack.caddy import LOOPBACK, CaddyPlaceholders
from stack.config import StackConfig, replica_address
from stack.errors import PortClaim, PortsInUse

__all__ = ["check_free", "is_free", "pick_free_port", "reserve_ports"]

_ATTEMPTS: Final = 50


def is_free(host: str, port: int) -> bool:
    """Whether a TCP server could listen on ``host``:``port`` now.

    The probe sets SO_REUSEADDR as asyncio, uvicorn and Caddy do, so a port left in
    TIME_WAIT counts as free, while a listener on it (or on 0.0.0.0) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen()
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def pick_free_port(hosts: Sequence[str], avoid: Iterable[int] = ()) -> int:
    """A port the OS calls free on ``hosts[0]`` that is also free on the other hosts."""
    avoided = set(avoid)
    for _ in range(_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        if port not in avoided and all(is_free(host, port) for host in hosts):
            return port
    raise OSError(f"no port free on all of {', '.join(hosts)} after {_ATTEMPTS} tries")


def check_free(claims: Iterable[PortClaim]) -> None:
    """Raise ``PortsInUse`` naming every claimed port that is taken."""
    taken = []
    for claim in claims:
        with contextlib.suppress(OSError):
            if is_free(claim.host, claim.port):
                continue
        taken.append(claim)
    if taken:
        raise PortsInUse(taken)


def reserve_ports(config: StackConfig, admin_socket: Path) -> CaddyPlaceholders:
    """The run's ports: those given are checked free (``PortsInUse``), 0 is picked.

    The DNS responder's address is left empty: it is known once it is bound.
    """
    addresses = [replica_address(i) for i in range(1, config.audio_replicas + 1)]
    claims: list[PortClaim] = []
    ports: dict[str, int] = {}
    chosen: list[int] = []
    wanted = (
        ("https", config.https_port, [LOOPBACK], "Caddy HTTPS", "--https-port"),
        ("webhooks", config.webhooks_port, [LOOPBACK], "webhooks", "--webhooks-port"),
        ("audio", config.audio_port, addresses, "audio replicas", "--audio-port"),
    )
    for key, port, hosts, purpose, option in wanted:
        if port:
            claims.extend(PortClaim(host, port, purpose, option) for host in hosts)
            ports[key] = port
        else:
            ports[key] = pick_free_port(hosts, avoid=chosen)
        chosen.append(ports[key])
    check_free(claims)
    # Caddy opens no HTTP listener for a localhost site with redirects off; the
    # port only has to be a valid one that is not 80 (no privileges needed).
    http_port = pick_free_port([LOOPBACK], avoid=chosen)
    return CaddyPlaceholders(
        https_port=ports["https"],
        http_port=http_port,
        admin_socket=admin_socket,
        webhooks_port=ports["webhooks"],
        replica_name=config.replica_name,
        audio_port=ports["audio"],
        resolver="",
    )
