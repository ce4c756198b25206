"""The container tier's fixtures: the engine its runner started, and projects on it.

These tests run through ``python -m tests.containers`` (``make containers``, part of
``make test``), which starts the engine and builds the images first; a plain
``pytest`` run skips them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.__main__ import ENGINE_VARIABLE
from tests.containers.engine import Engine
from tests.containers.project import Project, tier_variables


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the tests that need the engine unless the tier's runner started them."""
    if os.environ.get(ENGINE_VARIABLE):
        return
    skip = pytest.mark.skip(reason="container tier: run by `make containers`")
    for item in items:
        needs_engine = "engine" in getattr(item, "fixturenames", ())
        if needs_engine and Path(__file__).parent in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine the runner started (Docker, or podman's service)."""
    described = json.loads(os.environ[ENGINE_VARIABLE])
    return Engine(described["name"], described["version"], described["env"])


def new_project(engine: Engine, scratch: Path, **variables: str) -> Project:
    """A project of the tier with fresh secrets and ports."""
    return Project(engine, scratch, tier_variables(**variables), base_env=os.environ)


@pytest.fixture(scope="module")
def project(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The tier's project, up and healthy for the module, then ``down -v``."""
    project = new_project(engine, tmp_path_factory.mktemp("project"))
    try:
        project.up()
        yield project
    finally:
        project.down()
