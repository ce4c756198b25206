"""Test hooks: what tests do to a running stack to break or poke it (``stack.testing``).

``make run`` never calls these. Tests kill, drain, restart and add audio replicas
and reload Caddy under live calls; each hook returns once the stack is in the
state it names (a replica started again is one Caddy would route a new call to).
"""

from __future__ import annotations

import ssl
from typing import Protocol

import httpx

from stack.caddy import CaddyAdmin
from stack.config import Replica, StackConfig
from stack.dns import DnsResponder
from stack.errors import StackError
from stack.replicas import ReplicaSet, wait_routable

__all__ = ["StackTestHooks"]


class RunningStack(Protocol):
    """What the hooks use of the stack (``launcher.Stack``), without importing it."""

    replica_set: ReplicaSet
    dns: DnsResponder | None
    config: StackConfig

    @property
    def admin(self) -> CaddyAdmin:
        """Caddy's admin API."""
        ...

    @property
    def base_url(self) -> str:
        """Where Caddy serves the stack."""
        ...

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the local CA."""
        ...


class StackTestHooks:
    """The hooks of one stack; reached as ``stack.testing``."""

    def __init__(self, stack: RunningStack) -> None:
        self._stack = stack

    def add_replica(self) -> Replica:
        """Start one more replica on the next address; return once Caddy routes to it."""
        replica = self._stack.replica_set.add()
        self.wait_routable(replica)
        return replica

    def start_replica(self, replica: Replica) -> None:
        """Start a stopped replica again, on its address; return once Caddy routes to it."""
        self._stack.replica_set.restart(replica)
        self.wait_routable(replica)

    def stop_replica(
        self, replica: Replica, *, wait: bool = True, keep_in_dns: bool = False
    ) -> int | None:
        """SIGTERM: the replica drains; see ``ReplicaSet.drain``."""
        return self._stack.replica_set.drain(replica, wait=wait, keep_in_dns=keep_in_dns)

    def kill_replica(self, replica: Replica, *, keep_in_dns: bool = False) -> int | None:
        """SIGKILL, as a crash; ``keep_in_dns`` leaves a dead replica in DNS."""
        return self._stack.replica_set.kill(replica, keep_in_dns=keep_in_dns)

    def reload_caddy(self) -> None:
        """Reload Caddy's config from the Caddyfile through the admin API."""
        self._stack.admin.load_caddyfile()

    def wait_routable(self, replica: Replica, timeout: float | None = None) -> None:
        """Until Caddy would pick ``replica`` for a new call (``replicas.wait_routable``)."""
        stack = self._stack
        if stack.dns is None:
            raise StackError("the stack is not started")
        wait_routable(
            replica,
            stack.dns.resolver,
            stack.admin,
            self._probe_socket_route,
            timeout or stack.config.startup_timeout,
        )

    def _probe_socket_route(self) -> None:
        stack = self._stack
        try:
            with httpx.Client(verify=stack.ssl_context(), trust_env=False, timeout=2.0) as client:
                client.get(f"{stack.base_url}/socket")
        except httpx.HTTPError:
            pass
