"""What a local stack runs (``StackConfig``) and one audio replica of it (``Replica``)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stack.processes import ManagedProcess

__all__ = [
    "DEFAULT_HTTPS_PORT",
    "MAX_REPLICAS",
    "REPLICA_NAME",
    "Replica",
    "StackConfig",
    "replica_address",
]

DEFAULT_HTTPS_PORT: Final = 8443
REPLICA_NAME: Final = "audio.stack.internal"
MAX_REPLICAS: Final = 200
#: docs/contract.md's DRAIN_TIMEOUT default.
DEFAULT_DRAIN_TIMEOUT: Final = 30.0
#: audio-1's address; audio-N listens on the N-th from here, all on one port.
FIRST_REPLICA_ADDRESS: Final = ipaddress.IPv4Address("127.0.0.2")


@dataclass(frozen=True)
class StackConfig:
    """What to run. A port of 0 is picked from the OS (tests); others are checked free."""

    state_dir: Path
    audio_replicas: int = 1
    https_port: int = DEFAULT_HTTPS_PORT
    webhooks_port: int = 0
    audio_port: int = 0
    #: The services' base environment (configuration such as ECHO_DELAY_MS, and the
    #: secrets when given); the launcher adds the addresses, PUBLIC_HOST and secrets.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    replica_name: str = REPLICA_NAME
    startup_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.audio_replicas <= MAX_REPLICAS:
            raise ValueError(f"audio_replicas must be 1 to {MAX_REPLICAS}")

    @property
    def drain_timeout(self) -> float:
        """The audio replicas' DRAIN_TIMEOUT, as they will read it."""
        try:
            return float(self.environ.get("DRAIN_TIMEOUT") or DEFAULT_DRAIN_TIMEOUT)
        except ValueError:
            return DEFAULT_DRAIN_TIMEOUT


@dataclass(eq=False)
class Replica:
    """One audio replica: its loopback address, the shared port, its process."""

    index: int
    address: str
    port: int
    process: ManagedProcess
    #: Whether the DNS responder lists it (while its process runs).
    in_dns: bool = False
    #: Listed even though its process is gone: a dead replica still in DNS.
    pinned_in_dns: bool = False

    @property
    def name(self) -> str:
        """``audio-1``, ``audio-2``, ..."""
        return f"audio-{self.index}"

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    @property
    def url(self) -> str:
        """The replica's own base URL (``/healthz``, ``/metrics``), not through Caddy."""
        return f"http://{self.address}:{self.port}"

    @property
    def listed(self) -> bool:
        """Whether DNS answers with this replica's address now."""
        return self.pinned_in_dns or (self.in_dns and self.process.alive)


def replica_address(index: int) -> str:
    """The loopback address of ``audio-{index}`` (127.0.0.2 for the first)."""
    return str(FIRST_REPLICA_ADDRESS + (index - 1))
