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
    """The answer or an event webhook failed.

    ``retry`` says whether Vonage would try the same URL again
    (docs/vonage-protocol.md §1: not after a certificate error, an invalid URL or a
    status other than 429, 503 and 504).
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class LegError(SimulatorError):
    """The WebSocket leg could not be opened (refused upgrade, TLS, network).

    ``status`` and ``detail`` are what Vonage posts about such a leg
    (docs/vonage-protocol.md §4): ``failed`` or ``unanswered``, with a detail code.
    """

    def __init__(self, message: str, *, status: str = "failed", detail: str = "cannot_route"):
        super().__init__(message)
        self.status = status
        self.detail = detail
