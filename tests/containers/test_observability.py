"""compose.yaml's `observability` profile on a real engine: Prometheus finds and scrapes
every replica of both services, and has loaded the alerting rules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.containers.conftest import new_project
from tests.containers.engine import Engine
from tests.containers.project import READY_TIMEOUT, Project, free_port

#: Prometheus scrapes every 15 s (deploy/prometheus/prometheus.yml): a few rounds.
SCRAPE_TIMEOUT = 90.0
AUDIO_REPLICAS = 2


@pytest.fixture(scope="module")
def observed(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The tier's project with the profile and two audio replicas, then ``down -v``."""
    project = new_project(
        engine,
        tmp_path_factory.mktemp("observability"),
        COMPOSE_PROFILES="observability",
        PROMETHEUS_PUBLISH_PORT=str(free_port()),
    )
    try:
        project.up("--scale", f"audio={AUDIO_REPLICAS}")
        yield project
    finally:
        project.down()


def _api(project: Project, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{project.variables['PROMETHEUS_PUBLISH_PORT']}/api/v1/{path}"
    response = httpx.get(url, params=params, timeout=10.0, trust_env=False)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def _wait_for_targets(project: Project) -> list[dict[str, Any]]:
    """The active targets once every one of them has been scraped, and up."""
    deadline = time.monotonic() + SCRAPE_TIMEOUT
    while True:
        targets: list[dict[str, Any]] = _api(project, "targets", state="active")["activeTargets"]
        jobs = [t["labels"]["job"] for t in targets]
        ready = sorted(jobs) == sorted(["webhooks"] + ["audio"] * AUDIO_REPLICAS)
        if ready and all(t["health"] == "up" for t in targets):
            return targets
        if time.monotonic() > deadline:
            raise AssertionError(f"targets not all up in {SCRAPE_TIMEOUT:.0f} s: {targets}")
        time.sleep(1.0)


def test_both_services_targets_are_up(observed: Project) -> None:
    """Every webhooks and audio replica is a target, found by DNS, and answers /metrics."""
    targets = _wait_for_targets(observed)
    audio = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "audio"}
    assert len(audio) == AUDIO_REPLICAS
    assert all(t["scrapeUrl"].endswith("/metrics") for t in targets)
    result = _api(observed, "query", query="sum by (job) (up)")["result"]
    assert {r["metric"]["job"]: float(r["value"][1]) for r in result} == {
        "webhooks": 1.0,
        "audio": float(AUDIO_REPLICAS),
    }
    print(f"up --wait with Prometheus to healthy: {observed.up_seconds:.1f} s")


def test_the_rules_are_loaded_and_the_services_series_are_there(observed: Project) -> None:
    """rules.yaml's groups are loaded, and a series the rules read has samples."""
    _wait_for_targets(observed)
    groups = {g["name"] for g in _api(observed, "rules")["groups"]}
    assert groups == {"vonage-voice-websocket.recording", "vonage-voice-websocket.alerts"}
    deadline = time.monotonic() + READY_TIMEOUT
    while not _api(observed, "query", query="audio_calls_max")["result"]:
        assert time.monotonic() < deadline, "no audio_calls_max sample"
        time.sleep(1.0)
    result = _api(observed, "query", query="audio_calls_max")["result"]
    assert {float(r["value"][1]) for r in result} == {500.0}


def test_prometheus_is_not_reachable_but_on_loopback(observed: Project) -> None:
    """The published port is bound to 127.0.0.1 only, as the profile promises."""
    (container,) = observed.containers("prometheus")
    bindings = [p for p in container["Ports"] if p.get("PublicPort")]
    assert {p["IP"] for p in bindings} == {"127.0.0.1"}
    assert [p["PrivatePort"] for p in bindings] == [9090]
