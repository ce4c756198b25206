"""``python -m tests.browser [PYTEST ARGS]``: the browser phone's tier (``make browser``).

Runs ``pytest tests/browser`` when Debian's Chromium (``/usr/bin/chromium``) and the
``playwright`` package are here; otherwise prints one line saying why the tier was
skipped, and under ``CI=true`` that skip is a failure. Playwright drives the system's
Chromium: no browser is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from stack.paths import REPO_ROOT

CHROMIUM: Final = Path("/usr/bin/chromium")
#: The tests run only when this runner started them (tests/browser/conftest.py).
TIER_VARIABLE: Final = "BROWSER_TIER"


def skip_or_fail(reason: str, environ: Mapping[str, str]) -> int:
    """One line; exit 0, or 1 under CI=true where the tier must run."""
    if environ.get("CI", "").lower() == "true":
        print(f"browser tier FAILED to start: {reason} (CI=true: it must run)")
        return 1
    print(f"browser tier skipped: {reason}")
    return 0


def missing(chromium: Path = CHROMIUM) -> str | None:
    """Why the tier cannot run here, or None."""
    if not os.access(chromium, os.X_OK):
        return f"no {chromium} (Debian's chromium package: apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (make setup)"
    return None


def main(argv: Sequence[str]) -> int:
    """The tier, or one line saying why it was skipped."""
    environ = dict(os.environ)
    if (reason := missing()) is not None:
        return skip_or_fail(reason, environ)
    command = [sys.executable, "-m", "pytest", "tests/browser", *argv]
    env = environ | {TIER_VARIABLE: "1"}
    return subprocess.run(command, env=env, cwd=REPO_ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
