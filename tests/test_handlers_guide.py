"""docs/handlers.md's examples: each file it shows is saved, linted, and its tests run.

A Python block whose first line is ``# NAME.py: ...`` is a file of the guide. The
handlers are linted with the project's ruff and ``mypy --strict``, and the guide's
``test_*.py`` files run under pytest against them, as a user would run them: in a
folder of their own, with ``audio_socket.testing`` and nothing else of this repository.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "handlers.md"
TOOLS = Path(sys.executable).parent
NAMED = re.compile(r"```python\n# (\w+\.py):.*?\n(.*?)```", flags=re.DOTALL)


def guide_files() -> dict[str, str]:
    """Each file the guide shows, by name, with its first line."""
    found = {}
    for match in NAMED.finditer(GUIDE.read_text()):
        name = match[1]
        assert name not in found, f"the guide shows {name} twice"
        found[name] = match[0].removeprefix("```python\n").removesuffix("```")
    return found


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's files, saved in a folder of their own."""
    folder = tmp_path_factory.mktemp("guide")
    for name, code in guide_files().items():
        (folder / name).write_text(code)
    return folder


def test_the_guide_shows_handlers_and_their_tests() -> None:
    """Both forms, settings and call control are shown, each with a test."""
    names = set(guide_files())
    assert {"parrot.py", "counter.py", "greeter.py", "transfer.py"} <= names
    for name in ("parrot.py", "greeter.py", "transfer.py"):
        assert f"test_{name}" in names, f"{name} has no test in the guide"


def as_a_user(folder: Path) -> list[str]:
    """ruff's options: the project's rules, in a user's project whose source is ``folder``
    (so ``audio_socket`` is a third-party package there), where a test may assert."""
    return [
        "--config",
        str(ROOT / "pyproject.toml"),
        "--config",
        f"src = [{str(folder)!r}]",
        "--config",
        'lint.per-file-ignores = {"**/test_*.py" = ["S101"]}',
    ]


def test_the_files_pass_the_project_lint(saved: Path) -> None:
    """ruff (lint and format) with the project's rules, and mypy --strict."""
    files = sorted(str(path) for path in saved.glob("*.py"))
    ruff = str(TOOLS / "ruff")
    for argv in (
        [ruff, "check", *as_a_user(saved), *files],
        [ruff, "format", "--check", *as_a_user(saved), *files],
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
    ):
        done = subprocess.run(
            argv, cwd=saved, capture_output=True, text=True, check=False, env=_environment()
        )
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}{done.stderr}"


def _environment() -> dict[str, str]:
    """This environment, with the repository on mypy's path: the development install is
    an editable one, found through an import hook that mypy does not follow (an installed
    wheel is found as is, by its py.typed)."""
    return dict(os.environ) | {"MYPYPATH": str(ROOT)}


def test_the_guides_tests_pass(saved: Path) -> None:
    """The guide's tests pass against its handlers, with no socket and no phone."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "--rootdir",
        str(saved),
        str(saved),
    ]
    done = subprocess.run(argv, cwd=saved, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    assert re.search(r"\b([5-9]|\d\d) passed\b", done.stdout), done.stdout
