"""compose.yaml as the Compose v2 binary resolves it: the deployment as shipped."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stack.check import COMPOSE_PLACEHOLDERS
from stack.paths import COMPOSE_FILE, REPO_ROOT, compose_binary

SERVICES = ("caddy", "webhooks", "audio")
CADDY_DOCKERFILE = REPO_ROOT / "caddy" / "Dockerfile"
HANDLER_FILE = REPO_ROOT / "compose.handler.yaml"


def _config(scratch: Path, variables: dict[str, str], *overrides: Path) -> dict[str, Any]:
    """``docker compose config --format json`` with ``variables`` and no .env."""
    (scratch / "empty.env").write_text("")
    argv = [str(compose_binary()), "--file", str(COMPOSE_FILE)]
    for override in overrides:
        argv += ["--file", str(override)]
    argv += ["--env-file", str(scratch / "empty.env"), "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "DOCKER_CONFIG": str(scratch)}
    completed = subprocess.run(
        argv, env=env | variables, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = json.loads(completed.stdout)
    return config


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """compose.yaml resolved with placeholder secrets and nothing else set."""
    return _config(tmp_path_factory.mktemp("compose"), COMPOSE_PLACEHOLDERS)


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match, duration
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_caddy_is_pinned_at_2_11_2_or_newer(compose: dict[str, Any]) -> None:
    """Caddy's image is built from caddy/Dockerfile, on an exact 2.11.x release, x >= 2."""
    build = compose["services"]["caddy"]["build"]
    dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
    assert dockerfile == CADDY_DOCKERFILE
    match = re.search(r"^FROM caddy:2\.11\.(\d+)(-alpine)?$", dockerfile.read_text(), re.M)
    assert match
    assert int(match[1]) >= 2
    assert "image" not in compose["services"]["caddy"], "a build must not retag caddy:*"


def test_only_caddy_publishes_ports(compose: dict[str, Any]) -> None:
    """Host 80 and 443 (TCP, and UDP for HTTP/3) onto Caddy's 8080 and 8443, on all
    interfaces by default; none on webhooks or audio."""
    services = compose["services"]
    published = {
        (p["host_ip"], p["published"], p["target"], p["protocol"])
        for p in services["caddy"]["ports"]
    }
    assert published == {
        ("0.0.0.0", "80", 8080, "tcp"),
        ("0.0.0.0", "443", 8443, "tcp"),
        ("0.0.0.0", "443", 8443, "udp"),
    }
    environment = services["caddy"]["environment"]
    assert (environment["CADDY_HTTP_PORT"], environment["CADDY_HTTPS_PORT"]) == ("8080", "8443")
    assert "ports" not in services["webhooks"]
    assert "ports" not in services["audio"]


def test_published_address_and_ports_come_from_the_environment(
    tmp_path: Path,
) -> None:
    """PUBLISH_* move the host side; a PUBLIC_HOST with a port and CADDY_HTTPS_PORT equal
    to it move Caddy's side with it."""
    variables = COMPOSE_PLACEHOLDERS | {
        "PUBLIC_HOST": "localhost:9443",
        "CADDY_HTTPS_PORT": "9443",
        "PUBLISH_ADDRESS": "127.0.0.1",
        "PUBLISH_HTTP_PORT": "9080",
        "PUBLISH_HTTPS_PORT": "9443",
    }
    services = _config(tmp_path, variables)["services"]
    published = {
        (p["host_ip"], p["published"], p["target"], p["protocol"])
        for p in services["caddy"]["ports"]
    }
    assert published == {
        ("127.0.0.1", "9080", 8080, "tcp"),
        ("127.0.0.1", "9443", 9443, "tcp"),
        ("127.0.0.1", "9443", 9443, "udp"),
    }
    assert services["webhooks"]["environment"]["PUBLIC_HOST"] == "localhost:9443"
    assert services["caddy"]["environment"]["PUBLIC_HOST"] == "localhost:9443"


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
    assert "cap_add" not in config
    assert config["user"] == "10001"


@pytest.mark.parametrize(("service", "port"), [("webhooks", 8000), ("audio", 8765)])
def test_services_are_built_and_health_checked(
    compose: dict[str, Any], service: str, port: int
) -> None:
    """Built from their Dockerfiles, health from /healthz in a form both engines run
    (one shell string: podman 4 splits exec-form arguments on spaces), every few seconds
    (no start_interval: Docker Engine 25+ only)."""
    config = compose["services"][service]
    assert config["build"]["dockerfile"].endswith("/Dockerfile")
    check = config["healthcheck"]
    assert check["test"][0] == "CMD-SHELL"
    assert len(check["test"]) == 2
    assert f"http://127.0.0.1:{port}/healthz" in check["test"][1]
    assert 2 <= _seconds(check["interval"]) <= 5
    assert "start_interval" not in check
    assert compose["services"]["caddy"]["depends_on"][service]["condition"] == "service_healthy"


def test_caddy_asks_no_resolver_of_its_own(compose: dict[str, Any]) -> None:
    """Unset, Caddy's dynamic upstream asks /etc/resolv.conf's servers: the engine's DNS."""
    assert compose["services"]["caddy"]["environment"]["AUDIO_RESOLVERS"] == ""


def test_caddy_gets_time_to_stop(compose: dict[str, Any]) -> None:
    """A stop grace period for Caddy (unset, podman kills it at once)."""
    assert _seconds(compose["services"]["caddy"]["stop_grace_period"]) >= 10


def test_audio_stop_grace_outlasts_the_drain(compose: dict[str, Any]) -> None:
    """Docker's SIGKILL comes after DRAIN_TIMEOUT, so drained calls end with 1001."""
    audio = compose["services"]["audio"]
    assert _seconds(audio["stop_grace_period"]) > float(audio["environment"]["DRAIN_TIMEOUT"])


def test_secrets_reach_only_the_services_that_use_them(compose: dict[str, Any]) -> None:
    """The signature secret goes to webhooks alone; Caddy gets no secret at all."""
    services = compose["services"]
    assert "VONAGE_SIGNATURE_SECRET" in services["webhooks"]["environment"]
    assert "VONAGE_SIGNATURE_SECRET" not in services["audio"]["environment"]
    caddy = services["caddy"]["environment"]
    assert set(caddy) == {"PUBLIC_HOST", "CADDY_HTTP_PORT", "CADDY_HTTPS_PORT", "AUDIO_RESOLVERS"}


def test_handler_override_builds_the_audio_service_from_your_folder(tmp_path: Path) -> None:
    """compose.handler.yaml: the audio service built from HANDLER_DIR's Dockerfile on the
    project's audio image, under a name of its own; nothing else changes."""
    handler = tmp_path / "my-handler"
    handler.mkdir()
    variables = COMPOSE_PLACEHOLDERS | {"HANDLER_DIR": str(handler)}
    config = _config(tmp_path, variables, HANDLER_FILE)
    audio = config["services"]["audio"]
    assert audio["build"]["context"] == str(handler)
    assert audio["build"]["dockerfile"] == "Dockerfile"
    assert audio["build"]["args"] == {"AUDIO_IMAGE": "vonage-voice-websocket-audio"}
    assert audio["image"] == "vonage-voice-websocket-handler"
    plain = _config(tmp_path, COMPOSE_PLACEHOLDERS)
    assert config["services"]["caddy"] == plain["services"]["caddy"]
    assert config["services"]["webhooks"] == plain["services"]["webhooks"]


def test_handler_override_without_a_folder_says_which_variable(tmp_path: Path) -> None:
    """No HANDLER_DIR: Compose stops and names it."""
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _config(tmp_path, COMPOSE_PLACEHOLDERS, HANDLER_FILE)
    assert "HANDLER_DIR" in failed.value.stderr


def test_caddy_is_health_checked_on_its_own_healthz(compose: dict[str, Any]) -> None:
    """Caddy's /healthz on its plain-HTTP port, in the container's own variable, every
    few seconds: `up --wait` waits for Caddy serving, not only started."""
    check = compose["services"]["caddy"]["healthcheck"]
    assert check["test"][0] == "CMD-SHELL"
    assert "http://127.0.0.1:$" in check["test"][1]
    assert "${CADDY_HTTP_PORT}/healthz" in check["test"][1]  # escaped: the container's
    assert 2 <= _seconds(check["interval"]) <= 5
