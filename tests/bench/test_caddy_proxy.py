"""tools/bench/caddy_proxy.py: every Caddy variant is a Caddyfile Caddy accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.caddy_proxy import VARIANTS, CaddyVariant, render_caddyfile
from stack.paths import find_tool


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_variant_adapts(variant: CaddyVariant, tmp_path: Path) -> None:
    """``caddy adapt`` turns each variant into JSON that proxies /socket to the upstream."""
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(render_caddyfile(variant, 18443, 12019, 18765))
    done = subprocess.run(
        [str(find_tool("caddy")), "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert "127.0.0.1:18765" in done.stdout
    assert config["admin"]["listen"] == "127.0.0.1:12019"
