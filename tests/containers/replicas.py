"""The audio replicas of a tier project: scaled, healthy, resolvable, and their calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from tests.containers.project import ComposeError, Project, container_number

#: caddy/Caddyfile's `dynamic a ... refresh 1s`, and a margin: a lookup Caddy made just
#: before the scale is this old at most when a test's first call arrives.
CADDY_REFRESH_S: Final = 1.5
READY_TIMEOUT: Final = 60.0
#: Each replica's live calls, read from inside it (its /metrics is never published).
CALLS_ACTIVE: Final = (
    "import urllib.request\n"
    "text = urllib.request.urlopen('http://127.0.0.1:8765/metrics', timeout=5).read()\n"
    "print(next(line.split()[1] for line in text.decode().splitlines()"
    " if line.startswith('audio_calls_active ')))"
)
#: The audio service's name as the engine's DNS answers it, from the webhooks container
#: (on the same network as Caddy, asking the same resolver).
RESOLVE: Final = "import socket\nprint(' '.join(sorted(socket.gethostbyname_ex('audio')[2])))"


def addresses(container: Any) -> set[str]:
    """The container's addresses on its networks."""
    networks = container.get("NetworkSettings", {}).get("Networks", {}) or {}
    return {n["IPAddress"] for n in networks.values() if n.get("IPAddress")}


def _healthy(project: Project, container: Any) -> bool:
    state = project.inspect(container["Id"])["State"]
    return bool(state.get("Running")) and (state.get("Health") or {}).get("Status") == "healthy"


def wait_audio_ready(project: Project, count: int) -> list[Any]:
    """Until exactly ``count`` audio replicas run, healthy, and the engine's DNS names
    exactly them; then until Caddy's cached answer, if any, has expired."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        replicas = project.containers("audio")
        if len(replicas) == count and all(_healthy(project, c) for c in replicas):
            expected = set().union(*(addresses(c) for c in replicas))
            if _resolved(project) == expected:
                break
        assert time.monotonic() < deadline, f"{count} audio replicas not ready in time"
        time.sleep(0.5)
    time.sleep(CADDY_REFRESH_S)
    return replicas


def _resolved(project: Project) -> set[str]:
    """What the engine's DNS answers for ``audio`` now (nothing while it cannot answer:
    podman's aardvark-dns may, for a moment, as the containers change)."""
    try:
        return set(project.exec("webhooks", "python", "-c", RESOLVE).split())
    except ComposeError as exc:
        if "gaierror" in str(exc):
            return set()
        raise


def calls_active(project: Project, replica: Any) -> int:
    """One replica's ``audio_calls_active``."""
    index = int(container_number(replica))
    return int(float(project.exec("audio", "python", "-c", CALLS_ACTIVE, index=index)))


async def active_per_replica(project: Project, replicas: list[Any]) -> list[int]:
    """``audio_calls_active`` of each of ``replicas``."""
    return list(
        await asyncio.gather(*(asyncio.to_thread(calls_active, project, r) for r in replicas))
    )
