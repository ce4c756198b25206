"""Each image's requirements.txt pins exactly its pyproject.toml extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXACT_PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)")


def _normalise(requirement: str) -> str:
    match = EXACT_PIN.fullmatch(requirement.strip())
    assert match, f"not an exact pin: {requirement!r}"
    name = re.sub(r"[-_.]+", "-", match["name"]).lower()  # PEP 503
    return f"{name}=={match['version']}"


def _extra(name: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [_normalise(line) for line in project["optional-dependencies"][name]]


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [_normalise(line) for line in lines if line]


@pytest.mark.parametrize(
    ("extra", "requirements"),
    [("audio", "audio_socket/requirements.txt"), ("webhooks", "webhooks/requirements.txt")],
)
def test_requirements_equal_extra(extra: str, requirements: str) -> None:
    """The image's pins are the extra's pins: same packages, same versions, no others."""
    pinned = _requirements(ROOT / requirements)
    assert len(pinned) == len(set(pinned)), "a package is listed twice"
    assert sorted(pinned) == sorted(_extra(extra))


def test_dockerfiles_install_their_own_requirements() -> None:
    """Each Dockerfile installs its own service's list and copies only its package and
    the application credentials both services share."""
    for package in ("audio_socket", "webhooks"):
        dockerfile = (ROOT / package / "Dockerfile").read_text()
        copies = re.findall(r"^COPY\s+(\S+)", dockerfile, flags=re.MULTILINE)
        assert copies == [f"{package}/requirements.txt", "app_credentials/", f"{package}/"]
