"""deploy/grafana/dashboard.json: a dashboard Grafana can import as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from stack.paths import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboard.json"
GRID_COLUMNS = 24


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def test_the_data_source_is_chosen_on_import() -> None:
    """No data source uid of this machine: a ``datasource`` variable of Prometheus type."""
    dashboard = _dashboard()
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["name"] == "datasource"
    assert variable["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_panels_have_unique_ids_and_fit_the_grid_without_overlap() -> None:
    """Each panel its own id, inside the 24 columns, no two on the same cells."""
    panels = list(_panels(_dashboard()["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_query_panel_has_a_title_and_distinct_ref_ids() -> None:
    """Queries are named A, B, ... within a panel, and every panel says what it shows."""
    for panel in _panels(_dashboard()["panels"]):
        assert panel["title"]
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        if panel["type"] != "row":
            assert refs, panel["title"]
