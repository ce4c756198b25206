"""The local stack: Caddy, webhooks and audio replicas on loopback, without Docker.

``python -m stack run`` is ``make run``; its processes never outlive it, and
``python -m stack stop`` stops any an earlier run left behind all the same.
``python -m stack check-config`` checks the Caddyfile, compose.yaml and the
Dockerfiles. The end-to-end tests drive ``Stack``, the same launcher, and break or
poke it through ``stack.testing``.
"""

from stack.config import Replica, StackConfig
from stack.errors import PortsInUse, StackError, StartupFailed
from stack.launcher import Stack

__all__ = ["PortsInUse", "Replica", "Stack", "StackConfig", "StackError", "StartupFailed"]
