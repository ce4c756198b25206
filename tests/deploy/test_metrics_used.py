"""Every series the dashboard and the rules use is one the services really export.

Both services run as processes, as a deployment runs them; their /metrics is scraped
after a little real traffic, and every selector of every dashboard query and rule
expression is checked against what came back: the metric name, the job that exports
it, each label matched, and that an equality or regex matcher can match a value the
service produces. Prometheus's own series (``up`` and the scrape series) and the
rules' recorded series are allowed as such.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stack.paths import REPO_ROOT
from tests.audio_socket.process import audio_service
from tests.webhooks.conftest import CALL_UUID, SIGNATURE_SECRET, SOCKET_SECRET, sign

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboard.json"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules.yaml"
#: Series Prometheus makes itself for every target, and for its alerts.
PROMETHEUS_OWN = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
#: Labels the scrape adds, whatever the target exports.
TARGET_LABELS = frozenset({"job", "instance"})
#: Grafana's interval variables, replaced by a duration so the query parses.
GRAFANA_VARIABLES = re.compile(r"\$__(rate_)?interval|\$__range")
START_TIMEOUT = 30.0


@dataclass
class Exported:
    """What one scrape of each job gave: series name -> job -> label -> values."""

    series: dict[str, dict[str, dict[str, set[str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    )

    def add(self, job: str, exposition: str) -> None:
        """Fold one /metrics text in."""
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                labels = self.series[sample.name][job]
                for name, value in sample.labels.items():
                    labels[name].add(value)
                labels.setdefault("job", set()).add(job)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def _webhooks(cwd: Path) -> AsyncIterator[str]:
    """``python -m webhooks`` on a free loopback port, until /healthz answers 200."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "webhooks",
        cwd=cwd,
        env={
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PUBLIC_HOST": "calls.example.com",
            "VONAGE_SIGNATURE_SECRET": SIGNATURE_SECRET,
            "SOCKET_TOKEN_SECRET": SOCKET_SECRET,
            "WEBHOOKS_HOST": "127.0.0.1",
            "WEBHOOKS_PORT": str(port),
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            await _wait_healthy(process, client, f"{base}/healthz")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_healthy(
    process: asyncio.subprocess.Process, client: httpx.AsyncClient, url: str
) -> None:
    """Poll /healthz until 200; between polls, wait on the process's exit."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                await asyncio.wait_for(process.wait(), 0.05)
            except TimeoutError:
                continue
            pytest.fail(f"python -m webhooks exited with {process.returncode} before serving")


async def _webhook_traffic(client: httpx.AsyncClient) -> None:
    """A signed answer, a signed event, and an unsigned answer (401), posted as Vonage does."""
    answer = json.dumps({"uuid": CALL_UUID, "to": "447700900000"}).encode()
    event = json.dumps({"uuid": CALL_UUID, "conversation_uuid": "CON-1", "status": "answered"})
    for path, body, signed, status in [
        ("/webhooks/answer", answer, True, {200}),
        ("/webhooks/events", event.encode(), True, {200, 204}),
        ("/webhooks/answer", answer, False, {401}),
    ]:
        headers = {"content-type": "application/json"}
        if signed:
            headers["authorization"] = sign(body)
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code in status, (path, response.status_code, response.text)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Both services' /metrics, after traffic, by job as Prometheus would label them."""
    return asyncio.run(_scrape_both(tmp_path_factory.mktemp("services")))


async def _scrape_both(cwd: Path) -> Exported:
    found = Exported()
    async with audio_service(cwd) as audio, _webhooks(cwd) as webhooks:
        async with httpx.AsyncClient(base_url=webhooks, trust_env=False, timeout=5.0) as client:
            await _webhook_traffic(client)
            found.add("webhooks", (await client.get("/metrics")).text)
        audio_url = f"http://127.0.0.1:{audio.port}"
        async with httpx.AsyncClient(base_url=audio_url, trust_env=False, timeout=5.0) as client:
            assert (await client.get("/healthz")).status_code == 200
            found.add("audio", (await client.get("/metrics")).text)
    return found


def _recorded() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def _rule_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule.get("record") or rule["alert"], rule["expr"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_expressions() -> Iterator[tuple[str, str]]:
    for panel in _panels(json.loads(DASHBOARD.read_text())["panels"]):
        for target in panel.get("targets", []):
            yield f"{panel['title']} {target['refId']}", GRAFANA_VARIABLES.sub("5m", target["expr"])


def _selectors(expression: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expression), visit)
    return found


def _matches(matcher: promql_parser.Matcher, value: str) -> bool:
    if matcher.op == promql_parser.MatchOp.Equal:
        return value == matcher.value
    if matcher.op == promql_parser.MatchOp.Re:
        return re.fullmatch(matcher.value, value) is not None
    if matcher.op == promql_parser.MatchOp.NotEqual:
        return value != matcher.value
    return re.fullmatch(matcher.value, value) is None


def _problems(
    exported: Exported, selector: promql_parser.VectorSelector, recorded: set[str]
) -> list[str]:
    """Why ``selector`` would select nothing the services export; empty when it would."""
    name = selector.name
    if name is None or name in PROMETHEUS_OWN or name in recorded:
        return []
    if name not in exported.series:
        return [f"{name}: not exported by either service"]
    jobs = exported.series[name]
    problems = []
    for matcher in selector.matchers.matchers:
        candidates = [labels[matcher.name] for labels in jobs.values() if matcher.name in labels]
        if not candidates:
            problems.append(f"{name}: no label {matcher.name!r}")
        elif not any(_matches(matcher, v) for values in candidates for v in values):
            problems.append(
                f"{name}: {matcher.name} {matcher.op} {matcher.value!r} matches no value"
            )
    return problems


def test_the_scrape_saw_both_services(exported: Exported) -> None:
    """A sanity check of the fixture: each job exported its own series."""
    assert "audio" in exported.series["audio_calls_active"]
    assert "webhooks" in exported.series["webhooks_requests_total"]


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_series_used_is_exported(exported: Exported, source: str) -> None:
    """Each selector names an exported metric, of its job, with labels that can match."""
    recorded = _recorded()
    expressions = dict(_dashboard_expressions() if source == "dashboard" else _rule_expressions())
    assert expressions
    problems = {
        where: found
        for where, expression in expressions.items()
        for selector in _selectors(expression)
        if (found := _problems(exported, selector, recorded))
    }
    assert problems == {}


def test_recorded_series_used_are_defined() -> None:
    """A job:/route:/instance: series in a query is one rules.yaml records."""
    recorded = _recorded()
    used = {
        selector.name
        for _, expression in [*_dashboard_expressions(), *_rule_expressions()]
        for selector in _selectors(expression)
        if selector.name and ":" in selector.name
    }
    assert used - recorded == set()


def test_the_check_catches_a_missing_metric(exported: Exported) -> None:
    """A misspelt metric, a label it lacks, or another job's metric is reported."""
    recorded = _recorded()
    cases = {
        "audio_calls_activ": "not exported",
        'audio_calls_total{outcome="refused"}': "matches no value",
        'webhooks_requests_total{outcome="x"}': "no label",
        'audio_calls_active{job="webhooks"}': "matches no value",
    }
    for expression, problem in cases.items():
        (selector,) = _selectors(expression)
        found = _problems(exported, selector, recorded)
        assert found, expression
        assert problem in found[0], (expression, found)
