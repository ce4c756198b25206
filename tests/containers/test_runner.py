"""The tier's own logic, without an engine: when it skips, what it builds on, how."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.containers.__main__ import skip_or_fail
from tests.containers.engine import Engine, compose_env, podman_unusable
from tests.containers.standins import (
    CA_BUNDLE,
    CADDY_DOCKERFILE,
    PYTHON_DOCKERFILES,
    base_images,
    debian_mirror,
    recipe_hash,
    tags,
)


def test_a_skip_is_one_line_and_a_failure_under_ci(capsys: pytest.CaptureFixture[str]) -> None:
    """Without an engine: one line and exit 0; with CI=true, exit 1."""
    assert skip_or_fail("no engine here", {}) == 0
    assert capsys.readouterr().out == "container tier skipped: no engine here\n"
    assert skip_or_fail("no engine here", {"CI": "true"}) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "FAILED" in out
    assert "no engine here" in out


def _executable(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_podman_unusable_names_what_is_missing(tmp_path: Path) -> None:
    """No podman at all, or podman without the packages it needs here, each by name."""
    empty = {"PATH": str(tmp_path)}
    reason = podman_unusable(empty, helper_folders=())
    assert reason is not None
    assert "nor podman" in reason
    _executable(tmp_path, "podman")
    _executable(tmp_path, "runc")
    reason = podman_unusable(empty, helper_folders=())
    assert reason is not None
    for name in ("catatonit", "netavark", "aardvark-dns", "iptables"):
        assert name in reason
    assert "runc" not in reason


def test_compose_runs_with_the_classic_builder_and_none_of_the_users_config(
    tmp_path: Path,
) -> None:
    """COMPOSE_BAKE=false and DOCKER_BUILDKIT=0 (no BuildKit image from a registry), a
    DOCKER_CONFIG of the tier's, and nothing of the caller's settings or secrets."""
    engine = Engine("podman", "4.3.1", {"DOCKER_HOST": "unix:///tmp/x.sock"})
    base = {"PATH": "/bin", "HOME": "/root", "VONAGE_SIGNATURE_SECRET": "s", "PUBLIC_HOST": "h"}
    env = compose_env(base, engine, tmp_path)
    assert env["COMPOSE_BAKE"] == "false"
    assert env["DOCKER_BUILDKIT"] == "0"
    assert env["DOCKER_CONFIG"] == str(tmp_path / "docker-config")
    assert env["DOCKER_HOST"] == "unix:///tmp/x.sock"
    assert "VONAGE_SIGNATURE_SECRET" not in env
    assert "PUBLIC_HOST" not in env


def test_stand_ins_are_named_as_the_dockerfiles_name_their_bases() -> None:
    """Both Python services build on one image; each name both ways it may resolve."""
    [python] = base_images(PYTHON_DOCKERFILES)
    [caddy] = base_images([CADDY_DOCKERFILE])
    assert python.startswith("python:3.11")
    assert caddy.startswith("caddy:2.11")
    assert tags(caddy) == [f"localhost/{caddy}", f"docker.io/library/{caddy}"]
    assert tags("quay.io/x/y:1") == ["quay.io/x/y:1"]


def test_the_mirror_is_the_one_apt_uses(tmp_path: Path) -> None:
    """deb822 .sources and one-line .list files; the security archive is not it."""
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "a.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
    )
    (sources / "b.sources").write_text("Types: deb\nURIs: http://mirror.example/debian/\n")
    assert debian_mirror([sources]) == "http://mirror.example/debian"
    listing = tmp_path / "sources.list"
    listing.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian_mirror([listing]) == "http://other.example/debian"
    assert debian_mirror([tmp_path / "absent"]) == "http://deb.debian.org/debian"


@pytest.mark.skipif(not CA_BUNDLE.is_file(), reason=f"no {CA_BUNDLE} (Debian's CA bundle)")
def test_the_recipe_hash_follows_every_input(tmp_path: Path) -> None:
    """Another Caddy binary or another mirror is another recipe."""
    caddy = tmp_path / "caddy"
    caddy.write_bytes(b"one")
    first = recipe_hash(caddy, "http://a.example/debian")
    assert recipe_hash(caddy, "http://a.example/debian") == first
    assert recipe_hash(caddy, "http://b.example/debian") != first
    caddy.write_bytes(b"two")
    assert recipe_hash(caddy, "http://a.example/debian") != first
    assert os.access(Path(__file__).parent / "standin_recipes" / "build.sh", os.X_OK)
