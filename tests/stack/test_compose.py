"""compose.yaml as the Compose v2 binary resolves it: the deployment as shipped."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stack.check import COMPOSE_PLACEHOLDERS
from stack.paths import COMPOSE_FILE, compose_binary

SERVICES = ("caddy", "webhooks", "audio")


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker compose config --format json`` with placeholder secrets and no .env."""
    scratch = tmp_path_factory.mktemp("compose")
    (scratch / "empty.env").write_text("")
    argv = [str(compose_binary()), "--file", str(COMPOSE_FILE)]
    argv += ["--env-file", str(scratch / "empty.env"), "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "DOCKER_CONFIG": str(scratch)}
    completed = subprocess.run(
        argv, env=env | COMPOSE_PLACEHOLDERS, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = json.loads(completed.stdout)
    return config


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match, duration
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_caddy_is_pinned_at_2_11_2_or_newer(compose: dict[str, Any]) -> None:
    """The image tag is an exact 2.11.x release, x >= 2."""
    match = re.fullmatch(r"caddy:2\.11\.(\d+)(-alpine)?", compose["services"]["caddy"]["image"])
    assert match
    assert int(match[1]) >= 2


def test_only_caddy_publishes_ports(compose: dict[str, Any]) -> None:
    """80 and 443 (TCP, and UDP for HTTP/3) on Caddy; none on webhooks or audio."""
    services = compose["services"]
    published = {(p["target"], p["protocol"]) for p in services["caddy"]["ports"]}
    assert published == {(80, "tcp"), (443, "tcp"), (443, "udp")}
    assert "ports" not in services["webhooks"]
    assert "ports" not in services["audio"]


def test_caddy_keeps_certificates_in_named_volumes(compose: dict[str, Any]) -> None:
    """/data and /config are named volumes; the Caddyfile is mounted read-only."""
    volumes = {v["target"]: v for v in compose["services"]["caddy"]["volumes"]}
    assert volumes["/data"]["type"] == "volume"
    assert volumes["/config"]["type"] == "volume"
    assert volumes["/etc/caddy/Caddyfile"]["read_only"] is True
    assert Path(volumes["/etc/caddy/Caddyfile"]["source"]).name == "Caddyfile"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_hardened(compose: dict[str, Any], service: str) -> None:
    """init, read-only root, every capability dropped, no privilege escalation."""
    config = compose["services"][service]
    assert config["init"] is True
    assert config["read_only"] is True
    assert config["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in config["security_opt"]
    expected_caps = ["NET_BIND_SERVICE"] if service == "caddy" else None
    assert config.get("cap_add") == expected_caps


@pytest.mark.parametrize(("service", "port"), [("webhooks", 8000), ("audio", 8765)])
def test_services_are_built_non_root_and_health_checked(
    compose: dict[str, Any], service: str, port: int
) -> None:
    """Built from their Dockerfiles, run as uid 10001, health from /healthz."""
    config = compose["services"][service]
    assert config["build"]["dockerfile"].endswith("/Dockerfile")
    assert config["user"] == "10001"
    test = config["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{port}/healthz" in test[3]
    assert compose["services"]["caddy"]["depends_on"][service]["condition"] == "service_healthy"


def test_audio_stop_grace_outlasts_the_drain(compose: dict[str, Any]) -> None:
    """Docker's SIGKILL comes after DRAIN_TIMEOUT, so drained calls end with 1001."""
    audio = compose["services"]["audio"]
    assert _seconds(audio["stop_grace_period"]) > float(audio["environment"]["DRAIN_TIMEOUT"])


def test_secrets_reach_only_the_services_that_use_them(compose: dict[str, Any]) -> None:
    """The signature secret goes to webhooks alone; Caddy gets no secret at all."""
    services = compose["services"]
    assert "VONAGE_SIGNATURE_SECRET" in services["webhooks"]["environment"]
    assert "VONAGE_SIGNATURE_SECRET" not in services["audio"]["environment"]
    assert set(services["caddy"]["environment"]) == {"PUBLIC_HOST"}
