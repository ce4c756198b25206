"""compose.yaml on a real engine: a call through Caddy, what is not routed, hardening."""

from __future__ import annotations

import re

import httpx
import pytest

from simulator.net import client_ssl_context
from tests.containers.calls import calls_to
from tests.containers.project import Project, container_number
from tests.reliability.helpers import assert_clean

SERVICES = ("caddy", "webhooks", "audio")
#: One status line of a process: name, uids, capability sets, no_new_privs.
STATUS_FIELDS = ("Name", "Uid", "CapPrm", "CapEff", "CapBnd", "NoNewPrivs")
#: Every process of a container, then the root filesystem's mount options.
PROBE = (
    "for s in /proc/[0-9]*/status; do"
    " grep -E '^(" + "|".join(STATUS_FIELDS) + "):' \"$s\" | tr '\\n' ' '; echo; done;"
    " grep -E '^[^ ]+ / ' /proc/mounts | sed 's/^/ROOT-MOUNT: /'"
)


async def test_a_call_goes_through_caddy(project: Project) -> None:
    """A simulated call through the containerised Caddy, TLS verified against its CA."""
    secret = project.variables["VONAGE_SIGNATURE_SECRET"]
    async with calls_to(project.base_url, secret, project.cafile(), seconds=3.0) as calls:
        calls.place(1)
        [report] = await calls.reports()
    assert_clean(report)
    assert report.frames.lost == 0
    assert report.reconnects == []
    print(f"up --wait to healthy: {project.up_seconds:.1f} s")


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/", "/config/"])
def test_services_own_endpoints_are_not_routed(project: Project, path: str) -> None:
    """Caddy answers 404 for everything but /webhooks/* and /socket."""
    verify = client_ssl_context(project.cafile())
    response = httpx.get(project.base_url + path, verify=verify, timeout=10.0, trust_env=False)
    assert response.status_code == 404


def _processes(output: str) -> list[dict[str, str]]:
    rows = []
    for line in output.splitlines():
        fields = dict(re.findall(r"(\w+):\s+([^\s]+(?:\s+\d+)*)", line))
        if fields:
            rows.append(fields)
    return rows


@pytest.mark.parametrize("service", SERVICES)
def test_hardening_holds_inside_every_container(project: Project, service: str) -> None:
    """From inside: every process non-root, with no capability and no_new_privs; the
    root filesystem read-only."""
    for container in project.containers(service):
        output = project.exec(service, "sh", "-c", PROBE, index=int(container_number(container)))
        [root] = [line.split()[4] for line in output.splitlines() if line.startswith("ROOT-")]
        assert "ro" in root.split(","), (service, root)
        processes = _processes(output.split("ROOT-MOUNT:")[0])
        assert processes, output
        for process in processes:
            uids = process["Uid"].split()
            assert "0" not in uids, process
            for capabilities in ("CapPrm", "CapEff", "CapBnd"):
                assert int(process[capabilities], 16) == 0, process
            assert process["NoNewPrivs"] == "1", process
