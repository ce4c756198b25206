"""Through Caddy: what is routed, what is not, and which host the NCCO names."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from stack import Stack
from tests.e2e.helpers import fetch_ncco, raw_get, socket_endpoint, stack_client

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Host": "localhost:1"},
        {"Host": "LOCALHOST"},
        {"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "http"},
        {"Forwarded": "host=evil.example.com;proto=http"},
    ],
    ids=["plain", "other-port", "upper-case", "x-forwarded", "forwarded"],
)
async def test_answer_ncco_names_the_configured_host(
    stack3: Stack, headers: dict[str, str]
) -> None:
    """A signed answer's NCCO points at wss://localhost:PORT/socket whatever Host says."""
    async with stack_client(stack3) as client:
        ncco = await fetch_ncco(client, stack3, str(uuid.uuid4()), headers)
    endpoint = socket_endpoint(ncco)
    assert endpoint.uri == f"wss://{stack3.public_host}/socket"
    (connect,) = [action for action in ncco if action["action"] == "connect"]
    assert connect["eventUrl"] == [f"https://{stack3.public_host}/webhooks/events"]


async def test_host_of_another_site_is_refused(stack3: Stack) -> None:
    """A Host that is not the TLS name gets 421 from Caddy, never reaches webhooks."""
    async with stack_client(stack3) as client:
        response = await client.get(
            "/webhooks/answer", params={"uuid": str(uuid.uuid4())},
            headers={"Host": "evil.example.com"},
        )  # fmt: skip
    assert response.status_code == httpx.codes.MISDIRECTED_REQUEST


async def test_unsigned_answer_is_refused(stack3: Stack) -> None:
    """Without Vonage's signature the answer webhook gives no credential (401)."""
    async with stack_client(stack3) as client:
        response = await client.post("/webhooks/answer", json={"uuid": str(uuid.uuid4())})
    assert response.status_code == httpx.codes.UNAUTHORIZED
    assert "Bearer" not in response.text


@pytest.mark.parametrize(
    "path", ["/", "/index.html", "/webhooks", "/webhooks/nope", "/socket/extra", "/config/"]
)
async def test_unknown_paths_are_404(stack3: Stack, path: str) -> None:
    """Only /webhooks/* and /socket are routed; the rest is 404."""
    async with stack_client(stack3) as client:
        response = await client.get(path)
    assert response.status_code == httpx.codes.NOT_FOUND


@pytest.mark.parametrize(
    "target",
    [
        "/healthz",
        "/metrics",
        "/webhooks/../metrics",
        "/webhooks/../healthz",
        "/webhooks/%2e%2e/metrics",
        "/socket/../metrics",
        "//metrics",
    ],
)
def test_service_health_and_metrics_are_not_reachable(stack3: Stack, target: str) -> None:
    """The services' /healthz and /metrics answer on their own ports only."""
    status, body = raw_get(stack3, target)
    assert status == httpx.codes.NOT_FOUND
    assert b"audio_calls_active" not in body
    assert b"# TYPE" not in body
    assert b'"status"' not in body


def test_services_do_serve_health_and_metrics_on_their_own_ports(stack3: Stack) -> None:
    """The positive control for the test above: each service answers on loopback."""
    for url in [stack3.webhooks_url, *(replica.url for replica in stack3.replicas)]:
        assert httpx.get(f"{url}/healthz", trust_env=False).status_code == httpx.codes.OK
        metrics = httpx.get(f"{url}/metrics", trust_env=False)
        assert metrics.status_code == httpx.codes.OK
        assert "# TYPE" in metrics.text


def test_caddy_listens_on_loopback_only(stack3: Stack) -> None:
    """HTTPS is bound to 127.0.0.1, not to every interface; the admin API is a unix
    socket in the 0700 state folder, not a TCP port another local user could reach."""
    port = stack3.placeholders.https_port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.2:{port}/", verify=False, trust_env=False)  # noqa: S501
    socket_path = stack3.admin.socket
    assert socket_path.parent.parent == stack3.paths.root
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(stack3.paths.root.stat().st_mode) == 0o700
    assert stack3.admin.is_up()
    caddy_pid = stack3.caddy.pid if stack3.caddy is not None else 0
    http_port = stack3.placeholders.http_port  # its own /healthz, for probes
    assert _tcp_listeners(caddy_pid) == {("127.0.0.1", port), ("127.0.0.1", http_port)}


@pytest.mark.parametrize("path", ["/", "/webhooks/answer", "/socket", "/metrics", "/healthz/x"])
def test_caddy_health_port_serves_only_its_own_healthz(stack3: Stack, path: str) -> None:
    """Plain HTTP on Caddy's http_port: its own /healthz (for probes) and 404 for the rest."""
    base = f"http://127.0.0.1:{stack3.placeholders.http_port}"
    assert httpx.get(f"{base}/healthz", trust_env=False).text == "ok"
    response = httpx.get(f"{base}{path}", trust_env=False)
    assert response.status_code == httpx.codes.NOT_FOUND
    assert "# TYPE" not in response.text


def _tcp_listeners(pid: int) -> set[tuple[str, int]]:
    """The IPv4 TCP sockets process ``pid`` listens on (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed since the listing: a connection, not a listener
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and inode in inodes:  # 0A: LISTEN
            address, port = local.split(":")
            host = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
            listening.add((host, int(port, 16)))
    return listening


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").partition("=")[::2] for p in pairs if p)


def test_each_process_gets_only_the_secrets_it_uses(stack3: Stack) -> None:
    """Audio replicas get the socket key but not the signature secret; Caddy neither."""
    signature = stack3.secrets.vonage_signature_secret
    socket_key = stack3.secrets.socket_token_secret
    assert stack3.webhooks is not None
    assert stack3.caddy is not None
    webhooks = _environ(stack3.webhooks.pid)
    assert webhooks["VONAGE_SIGNATURE_SECRET"] == signature
    assert webhooks["SOCKET_TOKEN_SECRET"] == socket_key
    for replica in stack3.replicas:
        audio = _environ(replica.pid)
        assert "VONAGE_SIGNATURE_SECRET" not in audio
        assert audio["SOCKET_TOKEN_SECRET"] == socket_key
    caddy = "\n".join(_environ(stack3.caddy.pid).values())
    assert signature not in caddy
    assert socket_key not in caddy
