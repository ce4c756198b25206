"""deploy/prometheus/: the rules valid and every alert proven by promtool's unit tests;
the scrape configurations valid."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from stack.paths import REPO_ROOT
from tests.deploy.tools import require_tool

PROMTOOL = require_tool("promtool", "Debian's `prometheus` package; .ci/run installs it")

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "rules.yaml"
RULE_TESTS = RULES_DIR / "rules.test.yaml"
#: What the issue asks to be alerted on, by the alert that covers it.
REQUIRED_ALERTS = {
    "ReplicaDown",  # a replica down
    "ServiceDown",
    "AudioCallsNearLimit",  # calls near MAX_CALLS
    "ReconnectRateHigh",  # reconnect rate up
    "ApologyRateHigh",  # apology rate up
    "AudioUpgradesRefused",  # 503s at the upgrade
    "WebhookLatencyHigh",  # webhook latency p99 over budget
    "WebhookSignatureFailures",  # a spike in signature failures
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROMTOOL), *args],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _alerts() -> set[str]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_rules_are_valid() -> None:
    """promtool check rules: the expressions parse, names and templates are sound."""
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    """promtool test rules: every case's alerts and recorded samples are as expected."""
    result = _promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_verdicts_hold_whichever_group_runs_first(tmp_path: Path) -> None:
    """Alerts read recorded series a step old when their group runs first: same verdicts."""
    cases = yaml.safe_load(RULE_TESTS.read_text())
    cases["group_eval_order"] = list(reversed(cases["group_eval_order"]))
    cases["rule_files"] = [str(RULES)]
    reversed_order = tmp_path / "alerts-first.test.yaml"
    reversed_order.write_text(yaml.safe_dump(cases))
    result = _promtool("test", "rules", str(reversed_order))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_concern_has_an_alert() -> None:
    """Replica down, calls near MAX_CALLS, reconnects, apologies, 503s, latency, signatures."""
    assert _alerts() >= REQUIRED_ALERTS


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert has a case where it fires and one where it must stay silent."""
    firing: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            counts = firing if check.get("exp_alerts") else quiet
            counts[check["alertname"]] += 1
    assert {alert for alert in _alerts() if not firing[alert]} == set()
    assert {alert for alert in _alerts() if not quiet[alert]} == set()


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """promtool's verdict is not a formality: a case expecting silence where an alert
    fires fails the run."""
    cases = yaml.safe_load(RULE_TESTS.read_text())
    for case in cases["tests"]:
        for check in case.get("alert_rule_test", []):
            check["exp_alerts"] = []
    broken = tmp_path / "broken.test.yaml"
    cases["rule_files"] = [str(RULES)]
    broken.write_text(yaml.safe_dump(cases))
    result = _promtool("test", "rules", str(broken))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_compose_scrape_config_is_valid() -> None:
    """prometheus.yml (compose's observability profile) and the rules it loads."""
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_scrape_config_is_valid(tmp_path: Path) -> None:
    """kubernetes.yml, its pod discovery swapped for one static target.

    Debian's Prometheus is built without Kubernetes discovery, so promtool refuses
    ``kubernetes_sd_configs``; everything else (relabelling, rule files) is checked.
    """
    config = yaml.safe_load((RULES_DIR / "kubernetes.yml").read_text())
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
        job["static_configs"] = [{"targets": ["10.0.0.1:8765"]}]
    config["rule_files"] = [str(RULES)]
    checked = tmp_path / "kubernetes.yml"
    checked.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr
