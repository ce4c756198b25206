"""TLS trust and network failures, shared by the webhook client and the socket legs.

TLS verification is always on. ``--cafile`` adds a root to the system's trust
(the local stack's Caddy CA by default, when it can be found); nothing turns
verification off.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from simulator.errors import UsageError


def client_ssl_context(cafile: Path | None) -> ssl.SSLContext:
    """A verifying client context trusting the system roots plus ``cafile``."""
    context = ssl.create_default_context()
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load --cafile {cafile}: {exc}") from exc
    return context


def root_cause(exc: BaseException) -> BaseException:
    """The innermost cause of a wrapped exception (httpx wraps httpcore wraps OSError)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def describe_failure(exc: BaseException, target: str) -> str:
    """One line saying why reaching ``target`` failed."""
    cause = root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or cause.reason or "certificate verify failed"
        return f"untrusted certificate at {target}: {reason} (pass --cafile with its root)"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed with {target}: {cause.reason or cause}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused: {target}"
    if isinstance(cause, TimeoutError):
        return f"timed out reaching {target}"
    if isinstance(cause, OSError):
        return f"cannot reach {target}: {cause.strerror or cause}"
    return f"cannot reach {target}: {cause or type(cause).__name__}"
