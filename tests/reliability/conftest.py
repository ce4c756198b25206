"""Fixtures of the reliability tests: stacks started by the same launcher as
``make run``, each with the short timeouts its test needs, stopped when it is done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import Stack
from tests.e2e.conftest import start_stack


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker here until pyproject.toml lists it."""
    config.addinivalue_line(
        "markers", "reliability: what the stack survives (real Caddy, real TLS)"
    )


def started(state_dir: Path, audio_replicas: int, **environ: str) -> Iterator[Stack]:
    """A started stack, stopped after use (for fixtures)."""
    stack = start_stack(state_dir, audio_replicas, **environ)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack2(tmp_path: Path) -> Iterator[Stack]:
    """Two audio replicas, a fresh stack for a test that stops or kills one."""
    yield from started(tmp_path / "stack", 2)


#: Short limits, so that what they cut is cut within the test.
HANDSHAKE_TIMEOUT = 2.0
SEND_TIMEOUT = 2.0


@pytest.fixture(scope="session")
def hostile_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two replicas with short handshake and send timeouts, shared by the hostile tests,
    each of which leaves it healthy (that is what they check)."""
    yield from started(
        tmp_path_factory.mktemp("hostile"),
        2,
        HANDSHAKE_TIMEOUT=str(HANDSHAKE_TIMEOUT),
        SEND_TIMEOUT=str(SEND_TIMEOUT),
    )
