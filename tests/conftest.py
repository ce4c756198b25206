"""Fixtures shared by more than one test folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.simulator.rest_api.helpers import Api


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The simulator's Voice REST API on loopback, its trustme CA trusted by the SDK
    through the env (tests/simulator/rest_api/ and the audio service's call control)."""
    # Imported here: the helpers make two RSA key pairs, which no other folder needs.
    from tests.simulator.rest_api.helpers import running_api  # noqa: PLC0415

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    async with running_api(tmp_path) as running:
        yield running
