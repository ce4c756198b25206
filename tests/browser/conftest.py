"""The browser tier's fixtures: run by ``python -m tests.browser`` (``make browser``, part
of ``make test``); a plain ``pytest`` run skips these tests, as the runner decides
whether Chromium is there and says so in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.__main__ import TIER_VARIABLE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the browser tests unless the tier's runner started them."""
    if os.environ.get(TIER_VARIABLE):
        return
    skip = pytest.mark.skip(reason="browser tier: run by `make browser`")
    for item in items:
        if (
            Path(__file__).parent in Path(item.path).parents
            and Path(item.path).name != "test_runner.py"
        ):
            item.add_marker(skip)
