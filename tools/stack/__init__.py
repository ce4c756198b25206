"""The local stack: Caddy, webhooks and audio replicas on loopback, without Docker.

``python -m stack run`` is ``make run``; ``python -m stack check-config`` checks the
Caddyfile, compose.yaml and the Dockerfiles. The end-to-end tests drive ``Stack``,
the same launcher.
"""

from stack.config import Replica, StackConfig
from stack.errors import PortsInUse, StackError, StartupFailed
from stack.launcher import Stack

__all__ = ["PortsInUse", "Replica", "Stack", "StackConfig", "StackError", "StartupFailed"]
