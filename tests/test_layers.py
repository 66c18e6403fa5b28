"""The layers of analytics/: each package imports only itself and the layers below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE = REPO_ROOT / "analytics"

# Lowest first. A unit is a package of analytics/ or one of its top-level modules; units on the
# same line are siblings and never import each other.
LAYERS: list[tuple[str, ...]] = [
    ("store",),  # the DuckDB file: connection, schema, audit, identities, settings, filters
    ("ingest",),  # files into tickets: readers, profiles, detection, normalisation, the pipeline
    ("sla", "recurrence"),  # SLA clocks and compliance; clusters of similar tickets
    ("kpi", "uploads"),  # every KPI, its facts, trends and the overview; an upload with its clusters
    ("connectors",),  # live sources: vendor APIs rendered as their exports, synced like an upload
    ("charts",),  # figures and their text alternatives
    ("governance",),  # closure criteria, sign-off, PIRs, defect triage, the portfolio
    ("report",),  # the monthly report: model, sections, PDF, data pack
    ("demo",),  # the seeded demo data and its loading
    ("app",),  # the command line and the store upgrade
]
APP = {"cli", "cli_engagements", "cli_errors", "cli_parser", "cli_sync", "upgrade", "__main__"}


def unit_of(module: str) -> str:
    """'analytics.kpi.trends' -> 'kpi'; the CLI's modules are one unit, 'app'."""
    first = module.split(".")[1]
    return "app" if first in APP else first


def rank() -> dict[str, int]:
    return {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = REPO_ROOT) -> list[tuple[int, str, bool]]:
    """(line, imported analytics module, at module level?) for every import of the core."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, f"relative import level {node.level}", id(node) in top))
                continue
            if not (node.module or "").startswith("analytics"):
                continue
            for alias in node.names:
                # `from analytics.kpi import trends` names a module; `from analytics.kpi.trends import x` a name
                candidate = f"{node.module}.{alias.name}"
                target = candidate if _is_module(candidate, root) else node.module
                found.append((node.lineno, target, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, id(node) in top) for a in node.names if a.name.startswith("analytics")]
    return found


def _is_module(dotted: str, root: Path) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_core_module_is_in_a_layer():
    units = {unit_of(module_name(p)) for p in core_files() if module_name(p) != "analytics"}
    assert units, "analytics/ holds no modules"
    assert not units - set(rank()), f"add these to LAYERS (and docs/architecture.md): {sorted(units - set(rank()))}"


def test_packages_import_only_their_own_package_and_lower_layers():
    order = rank()
    wrong = []
    for path in core_files():
        me = module_name(path)
        for line, target, _ in imports(path):
            if not target.startswith("analytics.") or target == "analytics":
                wrong.append(f"{me}:{line} imports {target}")
                continue
            mine, theirs = unit_of(me), unit_of(target)
            if theirs != mine and order[theirs] >= order[mine]:
                wrong.append(f"{me}:{line} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports against the layer order (LAYERS):\n" + "\n".join(wrong)


def test_no_core_import_inside_a_function():
    """An import inside a function is how a cycle hides; the core imports its modules at the top."""
    inside = [f"{module_name(p)}:{line} imports {target}" for p in core_files()
              for line, target, at_top in imports(p) if not at_top]
    assert not inside, "\n".join(inside)


def test_no_import_cycle_between_core_modules():
    graph = {module_name(p): {t for _, t, _ in imports(p)} for p in core_files()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, []):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_layer_check_can_fail(tmp_path):
    """A planted upward import and a planted function-level import are both seen."""
    for folder in ("analytics", "analytics/kpi", "analytics/report"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "analytics/report/builder.py").write_text("")
    bad = tmp_path / "analytics/kpi/bad.py"
    bad.write_text("from analytics.report import builder\n\n\ndef f():\n    from analytics.report.builder import x\n")
    found = [(target, at_top) for _, target, at_top in imports(bad, tmp_path)]
    assert found == [("analytics.report.builder", True), ("analytics.report.builder", False)]
    me = module_name(bad, tmp_path)
    assert me == "analytics.kpi.bad" and rank()[unit_of(found[0][0])] > rank()[unit_of(me)]
