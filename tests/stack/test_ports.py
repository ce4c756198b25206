"""Port checks: a taken port is reported by number before anything starts."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from stack.errors import PortClaim, PortsInUse
from stack.ports import check_free, is_free, pick_free_port


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP listener on 127.0.0.1, port chosen by the OS."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield "127.0.0.1", int(sock.getsockname()[1])


def test_listening_port_is_not_free(listener: tuple[str, int]) -> None:
    """A port something listens on is taken."""
    host, port = listener
    assert not is_free(host, port)


def test_wildcard_listener_takes_the_port_on_every_address() -> None:
    """A listener on 0.0.0.0 takes the port on 127.0.0.2 too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        assert not is_free("127.0.0.2", port)


def test_picked_port_is_free_on_all_hosts() -> None:
    """The port is free on each replica address, and not one to avoid."""
    hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    port = pick_free_port(hosts)
    assert all(is_free(host, port) for host in hosts)
    assert pick_free_port(["127.0.0.1"], avoid=[port]) != port


def test_check_free_names_each_taken_port(listener: tuple[str, int]) -> None:
    """The error lists every taken port by number, with the option to change it."""
    host, port = listener
    claims = [
        PortClaim(host, port, "Caddy HTTPS", "--https-port"),
        PortClaim("127.0.0.1", pick_free_port(["127.0.0.1"]), "webhooks"),
    ]
    with pytest.raises(PortsInUse) as caught:
        check_free(claims)
    assert caught.value.claims == (claims[0],)
    assert str(caught.value) == (
        f"port {port} on {host} (Caddy HTTPS) is already in use; choose another with --https-port"
    )


def test_check_free_passes_free_ports() -> None:
    """Nothing is raised when every port is free."""
    check_free([PortClaim("127.0.0.1", pick_free_port(["127.0.0.1"]), "webhooks")])
