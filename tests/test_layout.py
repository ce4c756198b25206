"""The layout holds: no import cycles between the project's modules, shared code once.

The import graph is read from the code itself with ``ast``, not by importing it. Every
import counts, including one inside a function: a lazy import that dodges a cycle at
import time is still a cycle in the design. Left out, and only these:
- imports under ``if TYPE_CHECKING:`` (they never run);
- tests, which import whatever they test;
- the bench (``tools/bench``), which drives every part from outside like a test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Each package of the graph, by the folder its import name starts from.
PACKAGES = {
    "app_credentials": ROOT,
    "audio_socket": ROOT,
    "webhooks": ROOT,
    "simulator": ROOT / "tools",
    "stack": ROOT / "tools",
}
#: Definitions both services need, each to be defined in exactly one module.
SHARED_DEFINITIONS = (
    "ApplicationSettings",
    "ConfigurationError",
    "MaybeAwaitable",
    "describe_validation_error",
    "load_application",
)
SERVICES = ("app_credentials", "audio_socket", "webhooks")


def _modules() -> dict[str, Path]:
    """Every module of the graph's packages, by its dotted name."""
    found = {}
    for package, base in PACKAGES.items():
        for path in sorted((base / package).rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _targets(node: ast.Import | ast.ImportFrom, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules one import statement of module ``name`` loads."""
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        # ``from package import submodule`` loads the submodule; any other name, the package.
        wanted = [f"{base}.{alias.name}" for alias in node.names] + [base]
        wanted = [w for w in wanted[:-1] if w in modules] or [base]
    return {w for w in wanted if w in modules}


def import_graph() -> dict[str, set[str]]:
    """Each module of the graph, and the project modules it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in _imports(tree):
            edges |= _targets(node, name, modules)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    """No two modules of the project's packages import each other, however indirectly."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check is not vacuous: a cycle, and an import inside a function, are seen."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import hidden\n"
        "def f():\n    import lazy\n"
    )
    names = {alias.name for node in _imports(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "lazy"}


def test_the_graph_sees_every_package() -> None:
    """Each package is read, and an edge known to exist is found."""
    graph = import_graph()
    assert {name.partition(".")[0] for name in graph} == set(PACKAGES)
    assert "app_credentials" in graph["audio_socket.settings"]
    assert "audio_socket.callbacks" in graph["audio_socket.connection"]


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_shared_definitions_live_in_one_module() -> None:
    """What both services share is defined once (app_credentials or audio_socket), not copied."""
    defined: dict[str, list[str]] = {name: [] for name in SHARED_DEFINITIONS}
    for name, path in _modules().items():
        if name.partition(".")[0] not in SERVICES:
            continue
        for shared in _top_level_names(path) & set(SHARED_DEFINITIONS):
            defined[shared].append(name)
    assert {name: len(where) for name, where in defined.items()} == dict.fromkeys(
        SHARED_DEFINITIONS, 1
    ), defined


def test_the_application_settings_are_declared_once() -> None:
    """The Vonage application's variables and ``application()`` are in one settings class."""
    declaring = []
    for name, path in _modules().items():
        if name.partition(".")[0] not in SERVICES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                body = {getattr(n, "name", None) for n in node.body}
                fields = {
                    n.target.id
                    for n in node.body
                    if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                }
                if "application" in body or "vonage_application_id" in fields:
                    declaring.append(f"{name}.{node.name}")
    assert declaring == ["app_credentials.settings.ApplicationSettings"]


def test_no_test_module_imports_another() -> None:
    """Shared fixtures live in conftest.py and helpers in plain modules, never in a test."""
    importing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            if any(n.rpartition(".")[2].startswith("test_") for n in names):
                importing.append(str(path.relative_to(ROOT)))
    assert importing == []
