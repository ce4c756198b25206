"""The DNS responder: the replica name answered with the live replicas' addresses."""

from __future__ import annotations

import socket

from dnslib import QTYPE, RCODE, DNSRecord

from stack.dns import DnsResponder, ReplicaResolver

NAME = "audio.stack.internal"


def _ask(resolver: ReplicaResolver, name: str, qtype: str = "A") -> DNSRecord:
    return resolver.resolve(DNSRecord.question(name, qtype))


def test_answers_name_with_every_address() -> None:
    """One A record per address, TTL 0, in the order given."""
    reply = _ask(ReplicaResolver(NAME, lambda: ["127.0.0.2", "127.0.0.3"]), NAME)
    assert reply.header.rcode == RCODE.NOERROR
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.0.2", "127.0.0.3"]
    assert {rr.ttl for rr in reply.rr} == {0}
    assert {rr.rtype for rr in reply.rr} == {QTYPE.A}


def test_name_matches_case_and_trailing_dot() -> None:
    """DNS names compare case-insensitively; the root dot is optional."""
    resolver = ReplicaResolver(NAME + ".", lambda: ["127.0.0.2"])
    assert len(_ask(resolver, "Audio.Stack.Internal.").rr) == 1


def test_other_names_are_nxdomain() -> None:
    """A name that is not the replica name does not exist."""
    reply = _ask(ReplicaResolver(NAME, lambda: ["127.0.0.2"]), "audio.example.com")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert not reply.rr


def test_aaaa_is_answered_empty() -> None:
    """AAAA gets an immediate empty answer, never silence that would stall a lookup."""
    reply = _ask(ReplicaResolver(NAME, lambda: ["127.0.0.2"]), NAME, "AAAA")
    assert reply.header.rcode == RCODE.NOERROR
    assert not reply.rr


def test_no_replicas_is_an_empty_answer() -> None:
    """With every replica down the name still exists, with no address."""
    reply = _ask(ReplicaResolver(NAME, list), NAME)
    assert reply.header.rcode == RCODE.NOERROR
    assert not reply.rr


def _query_udp(address: tuple[str, int], name: str) -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(DNSRecord.question(name, "A").pack(), address)
        data, _ = client.recvfrom(4096)
    return [str(rr.rdata) for rr in DNSRecord.parse(data).rr]


def test_responder_serves_udp_and_reads_addresses_per_query() -> None:
    """Over real UDP on loopback, each query sees the current set of replicas."""
    live = ["127.0.0.2", "127.0.0.3"]
    with DnsResponder(NAME, lambda: list(live)) as responder:
        host, port = responder.address
        assert host == "127.0.0.1"
        assert port > 0
        assert responder.resolver_address == f"127.0.0.1:{port}"
        assert _query_udp(responder.address, NAME) == ["127.0.0.2", "127.0.0.3"]
        live.remove("127.0.0.2")
        assert _query_udp(responder.address, NAME) == ["127.0.0.3"]


def test_responder_releases_its_port() -> None:
    """After stop, the UDP port can be bound again."""
    responder = DnsResponder(NAME, list)
    responder.start()
    address = responder.address
    responder.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(address)
