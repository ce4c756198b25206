"""A DNS responder on loopback: the local stack's stand-in for Docker's DNS.

Caddy finds audio replicas with ``dynamic a`` (caddy/Caddyfile). In compose,
Docker's resolver at 127.0.0.11 answers the service name with one A record per
replica; here this responder answers the replica name with the addresses of
the replicas that are up right now, read at every query. Anything else gets
NXDOMAIN, and questions of other types (AAAA) get an empty answer at once: an
unanswered AAAA question would stall a lookup (docs/architecture.md, proxy notes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Final

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

__all__ = ["DnsResponder", "ReplicaResolver"]

#: Seconds a client may cache an answer: none, so a stopped replica leaves at once.
TTL: Final = 0

log = logging.getLogger("stack.dns")

AddressSource = Callable[[], Sequence[str]]


class ReplicaResolver:
    """Answers ``name`` with an A record per address ``addresses()`` returns.

    It counts its A answers, so a caller can wait until a client (Caddy) has
    looked the name up again since the replicas changed.
    """

    def __init__(self, name: str, addresses: AddressSource) -> None:
        self.name = name.rstrip(".").lower()
        self._addresses = addresses
        self._answered = threading.Condition()
        self.answers = 0
        self.last_answer: tuple[str, ...] = ()

    def resolve(self, request: DNSRecord, handler: DNSHandler | None = None) -> DNSRecord:
        """The reply to one query (dnslib's resolver interface)."""
        reply = request.reply()
        question = request.q
        if str(question.qname).rstrip(".").lower() != self.name:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if question.qtype in (QTYPE.A, QTYPE.ANY):
            addresses = tuple(self._addresses())
            for address in addresses:
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
            with self._answered:
                self.answers += 1
                self.last_answer = addresses
                self._answered.notify_all()
        return reply

    def wait_answer(self, after: int, timeout: float) -> tuple[str, ...] | None:
        """The addresses of an A answer given after the ``after``-th one, or None."""
        with self._answered:
            if self._answered.wait_for(lambda: self.answers > after, timeout):
                return self.last_answer
        return None


class DnsResponder:
    """A UDP DNS server for one name on ``host``, in a background thread.

    ``port`` 0 lets the OS choose; ``address`` tells what was bound.
    """

    def __init__(
        self, name: str, addresses: AddressSource, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.resolver = ReplicaResolver(name, addresses)
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send", logf=log.debug)
        self._server = DNSServer(self.resolver, address=host, port=port, logger=quiet)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self._server.server.server_address[:2]
        return str(host), int(port)

    @property
    def resolver_address(self) -> str:
        """``host:port`` as Caddy's ``resolvers`` takes it."""
        host, port = self.address
        return f"{host}:{port}"

    def start(self) -> None:
        """Serve in a daemon thread until ``stop``."""
        self._thread = threading.Thread(
            target=self._server.server.serve_forever, name="stack-dns", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._thread is not None:
            self._server.server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server.server_close()

    def __enter__(self) -> DnsResponder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
