"""The audio replicas of a local stack: started, drained, killed and replaced.

Each replica has its own loopback address (127.0.0.2, 127.0.0.3, ...) on one shared
port; the DNS responder answers the replica name with the addresses this set lists,
as Docker's DNS does for ``--scale audio=N``. A replica leaves DNS the moment it is
told to stop, and joins once its ``/healthz`` answers.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Final

import httpx

from stack.caddy import CaddyAdmin
from stack.config import MAX_REPLICAS, Replica, StackConfig, replica_address
from stack.dns import ReplicaResolver
from stack.environment import RunEnvironment, replica_env
from stack.errors import PortClaim, StackError, StartupFailed
from stack.leftovers import ProcessRecord
from stack.paths import StatePaths
from stack.ports import check_free
from stack.processes import service_process, wait_healthy

__all__ = ["ReplicaSet", "wait_routable"]

#: What a stop allows on top of DRAIN_TIMEOUT before it kills a replica: a hang-up
#: begun just before the drain ends takes up to ~17 s (audio_socket/call_control.py).
STOP_MARGIN: Final = 20.0
#: Seconds between two looks at whether Caddy would route to a replica.
ROUTABLE_POLL: Final = 0.2
#: The audio service's gauge of calls in progress (audio_socket/metrics.py).
_CALLS_ACTIVE: Final = re.compile(r"^audio_calls_active (\S+)$", re.MULTILINE)


class ReplicaSet:
    """The replicas of one stack, and which of them DNS lists."""

    def __init__(self, config: StackConfig, paths: StatePaths, record: ProcessRecord) -> None:
        self.config = config
        self.paths = paths
        self._record = record
        self.replicas: list[Replica] = []
        # DNS reads the listing from its own thread.
        self._lock = threading.Lock()
        self._run: RunEnvironment | None = None
        self._port = 0

    def listed_addresses(self) -> list[str]:
        """The replica addresses DNS answers with now."""
        with self._lock:
            return [replica.address for replica in self.replicas if replica.listed]

    def live_calls(self) -> dict[str, int]:
        """Calls in progress on each running replica, read from its ``/metrics``.

        A replica that does not answer within a second is left out: this is for
        messages, never for a decision.
        """
        counts: dict[str, int] = {}
        for replica in self.replicas:
            if not replica.process.alive:
                continue
            try:
                metrics = httpx.get(f"{replica.url}/metrics", timeout=1.0, trust_env=False)
            except httpx.HTTPError:
                continue
            if found := _CALLS_ACTIVE.search(metrics.text):
                counts[replica.name] = int(float(found[1]))
        return counts

    # Starting

    def start(self, run: RunEnvironment, port: int) -> None:
        """Start the configured number of replicas; ``wait_listed`` waits for each."""
        self._run, self._port = run, port
        for _ in range(self.config.audio_replicas):
            self._launch()

    def _launch(self) -> Replica:
        if self._run is None:
            raise StackError("the stack is not started")
        index = len(self.replicas) + 1
        if index > MAX_REPLICAS:
            raise StackError(f"at most {MAX_REPLICAS} audio replicas")
        address = replica_address(index)
        env = replica_env(self._run, address, self._port)
        name = f"audio-{index}"
        process = service_process(name, "audio_socket", env, self.paths, self._record)
        replica = Replica(index, address, self._port, process)
        with self._lock:
            self.replicas.append(replica)
        replica.process.start()
        return replica

    def wait_listed(self, replica: Replica) -> None:
        """Until the replica is healthy; then DNS lists it."""
        wait_healthy(replica.process, f"{replica.url}/healthz", self.config.startup_timeout)
        with self._lock:
            replica.in_dns = True

    def add(self) -> Replica:
        """One more replica on the next address, healthy and listed."""
        address = replica_address(len(self.replicas) + 1)
        check_free([PortClaim(address, self._port, "audio replicas")])
        replica = self._launch()
        self.wait_listed(replica)
        return replica

    def restart(self, replica: Replica) -> None:
        """A stopped replica started again on its address, healthy and listed."""
        with self._lock:
            replica.pinned_in_dns = False
        replica.process.start()
        self.wait_listed(replica)

    # Stopping

    def drain(
        self, replica: Replica, *, wait: bool = True, keep_in_dns: bool = False
    ) -> int | None:
        """SIGTERM: the replica drains (docs/architecture.md). Unlisted from DNS at once.

        With ``wait``, returns its exit status once it has exited (SIGKILL after
        DRAIN_TIMEOUT and a margin).
        """
        self._unlist(replica, keep_in_dns)
        replica.process.send_signal(signal.SIGTERM)
        if not wait:
            return None
        # Only one SIGTERM: a second one tells the replica to stop draining.
        return replica.process.stop(None, timeout=self.config.drain_timeout + STOP_MARGIN)

    def kill(self, replica: Replica, *, keep_in_dns: bool = False) -> int | None:
        """SIGKILL, as a crash; ``keep_in_dns`` leaves a dead replica in DNS."""
        self._unlist(replica, keep_in_dns)
        return replica.process.stop(signal.SIGKILL)

    def drain_all(self, cancel: threading.Event) -> None:
        """Every replica unlisted and drained at once; whatever is left when ``cancel``
        is set, or after DRAIN_TIMEOUT and a margin, is killed."""
        with self._lock:
            for replica in self.replicas:
                replica.in_dns = replica.pinned_in_dns = False
        for replica in self.replicas:
            replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            replica.process.stop(None, self.config.drain_timeout + STOP_MARGIN, cancel)

    def _unlist(self, replica: Replica, keep_in_dns: bool) -> None:
        with self._lock:
            replica.in_dns = keep_in_dns
            replica.pinned_in_dns = keep_in_dns


def wait_routable(
    replica: Replica,
    resolver: ReplicaResolver,
    admin: CaddyAdmin,
    probe: Callable[[], None],
    timeout: float,
) -> None:
    """Until Caddy would pick ``replica`` for a new call.

    That is: Caddy's DNS lookup has returned its address since it was listed,
    and Caddy holds no recent failure against it (``fail_duration``). Caddy
    looks the name up only while serving a request, at most once per ``refresh``,
    so ``probe`` sends requests to ``/socket`` without a credential (refused with
    401 by a replica, which is no failure) to prompt the lookups.
    """
    dial = f"{replica.address}:{replica.port}"
    mark = resolver.answers
    discovered = False
    deadline = time.monotonic() + timeout
    while True:
        if not discovered:
            probe()
            answer = resolver.wait_answer(mark, ROUTABLE_POLL)
            if answer is not None:
                mark = resolver.answers
                discovered = replica.address in answer
        elif all(u["fails"] == 0 for u in admin.upstreams() if u["address"] == dial):
            return
        else:
            time.sleep(ROUTABLE_POLL)
        if time.monotonic() > deadline:
            what = "known to" if discovered else "discovered by"
            raise StartupFailed(f"{replica.name} not {what} Caddy in time")
