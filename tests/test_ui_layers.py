"""The ui/ modules import each other one way only, at the top of the module (no import inside a
function to dodge a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Lowest first: each of these may import only those before it. Page parts (ui/*_state.py, the
# editors, governance_*) sit above them all.
LAYERS = ["widgets", "store_view", "pages_folder", "cache", "filter_bar", "engagement_state",
          "connection", "auth", "page"]


def _sources() -> list[Path]:
    return [*sorted((REPO / "ui").glob("*.py")), REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]


def _ui_imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("ui.")]
    if isinstance(node, ast.ImportFrom) and node.level == 0:
        if node.module == "ui":
            return [a.name for a in node.names]
        if (node.module or "").startswith("ui."):
            return [node.module.split(".")[1]]
    return []


def _graph() -> dict[str, set[str]]:
    return {p.stem: {m for n in ast.parse(p.read_text(encoding="utf-8")).body for m in _ui_imports(n)}
            for p in (REPO / "ui").glob("*.py")}


def test_ui_imports_are_at_module_level():
    nested = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(tree.body)
        nested += [f"{path.relative_to(REPO)}:{n.lineno}" for n in ast.walk(tree)
                   if _ui_imports(n) and n not in top]
    assert nested == [], f"ui imports inside functions (a cycle dodged?): {nested}"


def test_the_layers_import_downwards_only():
    graph = _graph()
    upward = [f"ui/{m}.py imports ui.{dep}" for i, m in enumerate(LAYERS)
              for dep in sorted(graph[m]) if dep not in LAYERS[:i]]
    assert upward == [], f"see LAYERS: {upward}"


def test_ui_has_no_import_cycle():
    graph, done, path = _graph(), set(), []

    def visit(m: str) -> None:
        assert m not in path, f"import cycle: {' -> '.join([*path[path.index(m):], m])}"
        if m in done:
            return
        path.append(m)
        for dep in sorted(graph.get(m, ())):
            visit(dep)
        path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
