"""The simulator's exceptions.

* :exc:`SimulatorError` — anything that ends a call or a run with a clear,
  one-line message (``str(exc)``); never shown as a traceback.
    * :exc:`UsageError` — bad options or input files (exit status 2).
    * :exc:`NccoError` — an NCCO the simulator cannot run.
    * :exc:`WebhookError` — the answer or an event webhook failed: refused,
      timed out, untrusted certificate, an unexpected HTTP status.
    * :exc:`LegError` — the WebSocket leg could not be opened.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """A failure with a message fit to show on one line."""


class UsageError(SimulatorError):
    """Bad options or input: the run cannot start."""


class NccoError(SimulatorError):
    """An NCCO the simulator cannot run (docs/vonage-protocol.md §2)."""


class WebhookError(SimulatorError):
    """The answer or an event webhook failed."""


class LegError(SimulatorError):
    """The WebSocket leg could not be opened (refused upgrade, TLS, network)."""
