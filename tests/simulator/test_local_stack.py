"""Defaults found in the local stack's state folder (docs/contract.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.local_stack import ROOT_CERT, default_cafile, default_secret, find_stack_dir


def test_nothing_found(isolated: Path) -> None:
    """No .stack anywhere above: no CA, no secret."""
    assert find_stack_dir() is None
    assert default_cafile() is None
    assert default_secret() is None


def test_found_above_cwd(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nearest .stack above the working directory supplies the CA and the secret."""
    state = isolated / ".stack"
    (state / ROOT_CERT).parent.mkdir(parents=True)
    (state / ROOT_CERT).write_text("cert")
    (state / "secrets.env").write_text(
        "# made by stack\nSOCKET_TOKEN_SECRET=x\nVONAGE_SIGNATURE_SECRET='s3cret'\n"
    )
    (isolated / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(isolated / "deep" / "er")
    assert default_cafile() == state / ROOT_CERT
    assert default_secret() == "s3cret"


def test_environment_wins(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VONAGE_SIGNATURE_SECRET and STACK_STATE_DIR override the folder search."""
    monkeypatch.setenv("VONAGE_SIGNATURE_SECRET", "from-env")
    monkeypatch.setenv("STACK_STATE_DIR", str(isolated / "elsewhere"))
    assert default_secret() == "from-env"
    assert find_stack_dir() == isolated / "elsewhere"
