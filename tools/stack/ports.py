"""Ports: which are free, and one the OS picks, checked before anything starts."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable, Sequence
from typing import Final

from stack.errors import PortClaim, PortsInUse

__all__ = ["check_free", "is_free", "pick_free_port"]

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
