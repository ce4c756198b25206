"""RESULTS.json: every row a run measured, written beside RESULTS.md and read back.

``python -m bench --render tools/bench/RESULTS.json`` renders RESULTS.md (and the sweep's
plot) again from these rows, without measuring: a change to how the report reads its
figures needs no new run. The machine and the commit measured travel in the file, so
a later checkout renders the run it holds, not itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.procs import BenchError
from bench.profile import Profile
from bench.report import Results
from bench.runs import Row
from bench.webhooks_rate import WebhooksFigures

__all__ = ["load_results", "save_results"]

_ROWS = ("direct", "caddy", "variants", "rest", "sweep")


def save_results(results: Results, path: Path) -> None:
    """Write ``results`` as JSON."""
    path.write_text(json.dumps(asdict(results), default=_jsonable, indent=1) + "\n")


def load_results(path: Path) -> Results:
    """The run in ``path``; a file that is not one names what is wrong with it."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BenchError(f"{path} is not JSON: {exc}") from None
    try:
        known = {f.name for f in fields(Results)}
        values = {k: v for k, v in raw.items() if k in known}
        for name in _ROWS:
            values[name] = [Row(**row) for row in raw.get(name, [])]
        values["server_cpus"] = set(raw["server_cpus"])
        values["load_cpus"] = set(raw["load_cpus"])
        values["started"] = datetime.fromisoformat(raw["started"])
        if raw.get("webhooks"):
            values["webhooks"] = WebhooksFigures(**raw["webhooks"])
        if raw.get("profile"):
            profile = dict(raw["profile"])
            profile["top_python"] = [tuple(pair) for pair in profile.get("top_python", [])]
            values["profile"] = Profile(**profile)
        return Results(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchError(f"{path} is not a bench run's RESULTS.json: {exc!r}") from None


def _jsonable(value: object) -> object:
    if isinstance(value, set):
        return sorted(value)
    return str(value)
