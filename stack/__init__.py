"""The local stack: Caddy, webhooks and audio replicas on loopback, without Docker.

``python -m stack run`` is ``make run``; ``python -m stack check-config`` checks the
Caddyfile, compose.yaml and the Dockerfiles. The end-to-end tests drive ``Stack``,
the same launcher.
"""

from stack.errors import PortsInUse, StackError, StartupFailed
from stack.launcher import Replica, Stack, StackConfig

__all__ = ["PortsInUse", "Replica", "Stack", "StackConfig", "StackError", "StartupFailed"]
