"""The browser tier's runner: its one skip line, and CI=true turning a skip into a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.__main__ import missing, skip_or_fail


def test_skip_is_one_line_and_fails_under_ci(capsys: pytest.CaptureFixture[str]) -> None:
    """Without Chromium: one line and exit 0; with CI=true, exit 1."""
    assert skip_or_fail("no /usr/bin/chromium", {}) == 0
    assert capsys.readouterr().out == "browser tier skipped: no /usr/bin/chromium\n"
    assert skip_or_fail("no /usr/bin/chromium", {"CI": "true"}) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "FAILED" in out
    assert "CI=true" in out


def test_missing_names_the_browser(tmp_path: Path) -> None:
    """A missing Chromium is named with the package that provides it."""
    reason = missing(tmp_path / "chromium")
    assert reason is not None
    assert "apt-get install chromium" in reason
