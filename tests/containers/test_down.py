"""``down -v`` leaves nothing of the project on the engine."""

from __future__ import annotations

from pathlib import Path

from tests.containers.conftest import new_project
from tests.containers.engine import Engine


def test_down_leaves_no_container_network_or_volume(engine: Engine, tmp_path: Path) -> None:
    """Up with two audio replicas, then ``down -v``: none of the project's containers,
    its network or its volumes (Caddy's certificates) is left."""
    project = new_project(engine, tmp_path)
    try:
        project.up("--scale", "audio=2")
        found = project.leftovers()
        assert len(found["containers"]) == 4, found
        assert set(found) == {"containers", "networks", "volumes"}
    finally:
        project.down()
    assert project.leftovers() == {}
