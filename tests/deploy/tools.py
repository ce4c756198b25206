"""The programs the deploy/ checks run, found once per test module.

On a user's machine a missing one skips its module with one line saying what is
missing and where it comes from; under CI (``CI=true``) a skip would hide a check,
so it fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.errors import ToolMissing
from stack.paths import find_tool


def require_tool(name: str, source: str) -> Path:
    """The program ``name``, or skip (fail under CI) the calling test module."""
    try:
        return find_tool(name)
    except ToolMissing:
        reason = f"{name} not found ({source}): these checks did not run"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true allows no skip", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
