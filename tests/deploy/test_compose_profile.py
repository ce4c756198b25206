"""compose.yaml's `observability` profile: Prometheus wired to the services it scrapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.check import COMPOSE_PLACEHOLDERS
from stack.paths import COMPOSE_FILE, REPO_ROOT, compose_binary

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"


def _config(scratch: Path, *profiles: str) -> dict[str, Any]:
    """``docker compose config --format json`` with placeholder secrets and no .env."""
    (scratch / "empty.env").write_text("")
    argv = [str(compose_binary()), "--file", str(COMPOSE_FILE)]
    for profile in profiles:
        argv += ["--profile", profile]
    argv += ["--env-file", str(scratch / "empty.env"), "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "DOCKER_CONFIG": str(scratch)}
    completed = subprocess.run(
        argv, env=env | COMPOSE_PLACEHOLDERS, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = json.loads(completed.stdout)
    return config


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """compose.yaml with the observability profile on."""
    return _config(tmp_path_factory.mktemp("compose"), "observability")


def test_prometheus_only_with_the_profile(tmp_path: Path, compose: dict[str, Any]) -> None:
    """A plain `up` starts no Prometheus; the profile adds it."""
    assert "prometheus" not in _config(tmp_path)["services"]
    assert "observability" in compose["services"]["prometheus"]["profiles"]


def test_prometheus_loads_the_repository_s_config_and_rules(compose: dict[str, Any]) -> None:
    """prometheus.yml and rules.yaml are mounted read-only where the config expects them."""
    mounts = {v["target"]: v for v in compose["services"]["prometheus"]["volumes"]}
    config = mounts["/etc/prometheus/prometheus.yml"]
    rules = mounts["/etc/prometheus/rules.yaml"]
    assert Path(config["source"]) == PROMETHEUS_DIR / "prometheus.yml"
    assert Path(rules["source"]) == PROMETHEUS_DIR / "rules.yaml"
    assert config["read_only"]
    assert rules["read_only"]
    assert mounts["/prometheus"]["type"] == "volume"
    scrape = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert scrape["rule_files"] == ["rules.yaml"]


def test_prometheus_scrapes_every_replica_of_both_services(compose: dict[str, Any]) -> None:
    """One job per service, named as the rules expect, by DNS name and port of compose's."""
    scrape = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert set(jobs) == {"webhooks", "audio"}
    for name, port in (("webhooks", 8000), ("audio", 8765)):
        (discovery,) = jobs[name]["dns_sd_configs"]
        assert discovery["names"] == [name]
        assert name in compose["services"]
        assert discovery["type"] == "A"
        assert discovery["port"] == port


def test_prometheus_is_hardened_and_not_public(compose: dict[str, Any]) -> None:
    """Read-only, no capability, non-root; published on the host's loopback only."""
    service = compose["services"]["prometheus"]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["user"] != "0"
    assert [(p["host_ip"], p["target"]) for p in service["ports"]] == [("127.0.0.1", 9090)]
    assert "CMD-SHELL" in service["healthcheck"]["test"]
