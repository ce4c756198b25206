"""check-config: the repository's deployment files pass, and broken ones fail."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stack.check import (
    COMPOSE_PLACEHOLDERS,
    check_caddy_fmt,
    check_caddy_validate,
    check_compose,
    run_checks,
)
from stack.cli import main
from stack.paths import CADDYFILE


def test_repository_passes_every_check() -> None:
    """caddy validate (both ways), caddy fmt, compose config and hadolint all pass."""
    out = io.StringIO()
    assert run_checks(out), out.getvalue()
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * 5
    assert lines[-1] == "check-config: all 5 checks pass"


def test_cli_exit_status_is_zero_when_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m stack check-config`` exits 0 and says so."""
    assert main(["check-config"]) == 0
    assert "all 5 checks pass" in capsys.readouterr().out


def test_unformatted_caddyfile_fails_fmt_showing_the_lines(tmp_path: Path) -> None:
    """A Caddyfile not as `caddy fmt` writes it fails, with the differing lines."""
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE.read_text().replace("\tlb_policy", "  lb_policy"))
    result = check_caddy_fmt(tmp_path, caddyfile)
    assert not result.passed
    assert "lb_policy least_conn" in result.output
    assert all(line.startswith(("-", "+")) for line in result.output.splitlines())


def test_invalid_caddyfile_fails_validate(tmp_path: Path) -> None:
    """An unknown directive fails `caddy validate`, and its error is shown."""
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE.read_text().replace("lb_policy", "lb_polcy"))
    result = check_caddy_validate(tmp_path, True, caddyfile)
    assert not result.passed
    assert "lb_polcy" in result.output


@pytest.mark.parametrize("missing", sorted(COMPOSE_PLACEHOLDERS))
def test_compose_refuses_a_missing_required_variable(tmp_path: Path, missing: str) -> None:
    """PUBLIC_HOST and both secrets are required: compose names the one missing."""
    variables = {k: v for k, v in COMPOSE_PLACEHOLDERS.items() if k != missing}
    result = check_compose(tmp_path, variables)
    assert not result.passed
    assert f"required variable {missing} is missing a value" in result.output
