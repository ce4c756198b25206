"""The Kubernetes manifests' containers, run as their pod specs say, on podman.

There is no cluster here, but there is a container engine: each container of the
rendered example overlay (deploy/kubernetes/) is started from the tier's images with
what its manifest sets and nothing else: user and group, read-only root, no
capability, no privilege escalation, its environment (ConfigMaps, and Secrets made
here), its volumes (the Caddyfile ConfigMap, a TLS Secret from a test CA, emptyDirs as
tmpfs) and its arguments. The three share one podman pod, which stands in for the
cluster network: `webhooks` and `audio` (the Services Caddy is given) name the pod's
loopback. Then every readiness probe must answer, Caddy must serve the Secret's
certificate, and a call must go through it: a signed answer, the socket upgrade with
the NCCO's credential, echoed audio.

Not covered: Kubernetes' own Services, DNS, NetworkPolicies and probes' scheduling.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml
from websockets.asyncio.client import connect

from stack.paths import REPO_ROOT, find_tool
from tests.containers.engine import Engine, podman_env
from tests.containers.project import PROJECT, READY_TIMEOUT, free_port
from tests.webhooks.conftest import sign

OVERLAY = REPO_ROOT / "deploy" / "kubernetes" / "overlays" / "example"
POD = "vvw-tier-k8s"
PUBLIC_HOST = "calls.example.com"
#: The tier's images (compose builds them as PROJECT-service) for the manifests' names.
IMAGES = {
    "caddy": f"docker.io/library/{PROJECT}-caddy:latest",
    "webhooks": f"docker.io/library/{PROJECT}-webhooks:latest",
    "audio": f"docker.io/library/{PROJECT}-audio:latest",
}
FRAME = bytes(range(256)) * 2 + bytes(128)  # 640 bytes: 20 ms at 16 kHz

Resource = dict[str, Any]


def _render() -> list[Resource]:
    rendered = subprocess.run(
        [str(find_tool("kubectl")), "kustomize", str(OVERLAY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


class PodRun:
    """podman commands for one pod, with the tier's podman configuration."""

    def __init__(self, engine: Engine) -> None:
        self.env = podman_env(os.environ) | dict(engine.env)

    def podman(self, *args: str, check: bool = True) -> str:
        """``podman args``; its stdout."""
        completed = subprocess.run(
            ["podman", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and completed.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {completed.stderr.strip()}")
        return completed.stdout


def _env_file(
    container: Resource, maps: dict[str, dict[str, str]], keys: dict[str, str], path: Path
) -> list[str]:
    """The container's environment, as its manifest builds it, in a file (mode 0600):
    the secrets made for the run stay off every command line."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values |= maps[source["configMapRef"]["name"]]
    for item in container.get("env", []):
        if "value" in item:
            values[item["name"]] = item["value"]
        elif "configMapKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["configMapKeyRef"]
            values[item["name"]] = maps[ref["name"]][ref["key"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            if ref["key"] in keys or not ref.get("optional", False):
                values[item["name"]] = keys[ref["key"]]
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return ["--env-file", str(path)]


def _volume_args(
    pod: Resource,
    container: Resource,
    maps: dict[str, dict[str, str]],
    secret_folders: dict[str, Path],
    scratch: Path,
) -> list[str]:
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    args = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = mount["mountPath"]
        if "emptyDir" in volume:
            args += ["--tmpfs", f"{target}:rw,mode=1777"]
        elif "configMap" in volume:
            folder = scratch / volume["name"]
            folder.mkdir(exist_ok=True)
            for key, text in maps[volume["configMap"]["name"]].items():
                (folder / key).write_text(text)
            args += ["--volume", f"{folder}:{target}:ro"]
        else:
            args += ["--volume", f"{secret_folders[volume['secret']['secretName']]}:{target}:ro"]
    return args


def _security_args(pod: Resource, container: Resource) -> list[str]:
    security = pod["securityContext"] | container["securityContext"]
    args = ["--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
    if security["readOnlyRootFilesystem"]:
        args.append("--read-only")
    if not security["allowPrivilegeEscalation"]:
        args += ["--security-opt", "no-new-privileges"]
    args += [f"--cap-drop={cap}" for cap in security["capabilities"]["drop"]]
    args += [f"--cap-add={cap}" for cap in security["capabilities"].get("add", [])]
    return args


@pytest.fixture(scope="module")
def pod(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The three containers running in one pod; what the tests need to reach them."""
    if not engine.is_podman:
        pytest.skip("the pod stand-in needs podman's pods")
    scratch = tmp_path_factory.mktemp("k8s-pod")
    resources = _render()
    maps = {r["metadata"]["name"]: r["data"] for r in resources if r["kind"] == "ConfigMap"}
    keys = {
        "VONAGE_SIGNATURE_SECRET": secrets.token_urlsafe(32),
        "SOCKET_TOKEN_SECRET": secrets.token_urlsafe(32),
    }
    authority = trustme.CA()
    certificate = authority.issue_cert(PUBLIC_HOST)
    tls = scratch / "caddy-tls"
    tls.mkdir()
    (tls / "tls.crt").write_text(certificate.private_key_and_cert_chain_pem.bytes().decode())
    (tls / "tls.key").write_text(certificate.private_key_pem.bytes().decode())
    # The pod's user (10001) reads them, as it reads a Secret's files in a cluster.
    tls.chmod(0o755)
    for path in tls.iterdir():
        path.chmod(0o644)
    ports = {8443: free_port(), 8080: free_port(), 8000: free_port(), 8765: free_port()}
    run = PodRun(engine)
    run.podman("pod", "rm", "--force", "--ignore", POD)
    published = [
        arg for inner, outer in ports.items() for arg in ("-p", f"127.0.0.1:{outer}:{inner}")
    ]
    hosts = ["--add-host", "webhooks:127.0.0.1", "--add-host", "audio:127.0.0.1"]
    run.podman("pod", "create", "--name", POD, *published, *hosts)
    try:
        for name in ("webhooks", "audio", "caddy"):
            (deployment,) = [
                r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name
            ]
            spec = deployment["spec"]["template"]["spec"]
            (container,) = spec["containers"]
            argv = ["run", "--detach", "--pod", POD, "--name", f"{POD}-{name}"]
            argv += _security_args(spec, container)
            argv += _env_file(container, maps, keys, scratch / f"{name}.env")
            argv += _volume_args(spec, container, maps, {"caddy-tls": tls}, scratch)
            run.podman(*argv, IMAGES[name], *container.get("args", []))
        yield {
            "resources": resources,
            "ports": ports,
            "keys": keys,
            "ca": authority,
            "run": run,
        }
    finally:
        for name in ("caddy", "audio", "webhooks"):
            logs = run.podman("logs", f"{POD}-{name}", check=False)
            (scratch / f"{name}.log").write_text(logs)
        run.podman("pod", "rm", "--force", "--time", "10", POD, check=False)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if httpx.get(url, timeout=2.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready in {READY_TIMEOUT:.0f} s"
        time.sleep(0.2)


def test_every_readiness_probe_answers(pod: dict[str, Any]) -> None:
    """Each container's readiness probe, GET path on its port, answers 200."""
    for resource in pod["resources"]:
        if resource["kind"] != "Deployment":
            continue
        (container,) = resource["spec"]["template"]["spec"]["containers"]
        probe = container["readinessProbe"]["httpGet"]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}.get(
            probe["port"], probe["port"]
        )
        _wait_ready(f"http://127.0.0.1:{pod['ports'][port]}{probe['path']}")


def test_each_process_runs_as_its_manifest_says(pod: dict[str, Any]) -> None:
    """uid and gid from the security context, no capability, no_new_privs, read-only root."""
    run: PodRun = pod["run"]
    for resource in pod["resources"]:
        if resource["kind"] != "Deployment":
            continue
        name = resource["metadata"]["name"]
        spec = resource["spec"]["template"]["spec"]
        security = spec["securityContext"] | spec["containers"][0]["securityContext"]
        status = run.podman("exec", f"{POD}-{name}", "cat", "/proc/1/status")
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert fields["Uid"].split() == [str(security["runAsUser"])] * 4, name
        assert fields["Gid"].split() == [str(security["runAsGroup"])] * 4, name
        assert int(fields["CapEff"].strip(), 16) == 0, name
        assert fields["NoNewPrivs"].strip() == "1", name
        # The root mount's options say read-only; the emptyDir at /tmp takes a write.
        mounts = run.podman("exec", f"{POD}-{name}", "cat", "/proc/mounts")
        (root,) = [line.split() for line in mounts.splitlines() if line.split()[1] == "/"]
        assert "ro" in root[3].split(","), (name, root)
        written = run.podman("exec", f"{POD}-{name}", "sh", "-c", "touch /tmp/probe && echo ok")
        assert written.split() == ["ok"], (name, written)
        inspect = json.loads(run.podman("inspect", f"{POD}-{name}"))[0]
        assert inspect["HostConfig"]["ReadonlyRootfs"] is True, name


async def test_a_call_goes_through_caddy_with_the_secret_s_certificate(pod: dict[str, Any]) -> None:
    """TLS from the Secret, a signed answer through Caddy, the socket with its credential."""
    for port in (8080, 8000, 8765):
        _wait_ready(f"http://127.0.0.1:{pod['ports'][port]}/healthz")
    context = ssl.create_default_context()
    pod["ca"].configure_trust(context)
    https = pod["ports"][8443]
    call_uuid = str(uuid.uuid4())
    body = json.dumps({"uuid": call_uuid, "to": "447700900000"}).encode()
    transport = httpx.AsyncHTTPTransport(verify=context)
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=10.0) as client:
        response = await client.post(
            f"https://127.0.0.1:{https}/webhooks/answer",
            content=body,
            headers={
                "host": PUBLIC_HOST,
                "content-type": "application/json",
                "authorization": sign(body, secret=pod["keys"]["VONAGE_SIGNATURE_SECRET"]),
            },
            extensions={"sni_hostname": PUBLIC_HOST},
        )
    assert response.status_code == 200, response.text
    (connect_action,) = [a for a in response.json() if a["action"] == "connect"]
    (endpoint,) = connect_action["endpoint"]
    assert endpoint["uri"] == f"wss://{PUBLIC_HOST}/socket"
    authorization = endpoint["authorization"]["value"]
    assert endpoint["headers"]["call_uuid"] == call_uuid
    async with connect(
        endpoint["uri"],
        host="127.0.0.1",
        port=https,
        ssl=context,
        server_hostname=PUBLIC_HOST,
        additional_headers={"Authorization": authorization},
        open_timeout=10,
    ) as websocket:
        first = {"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}
        await websocket.send(json.dumps(first | endpoint["headers"]))
        for _ in range(5):
            await websocket.send(FRAME)
        echoed = [await websocket.recv() for _ in range(5)]
    assert echoed == [FRAME] * 5
