"""Rules about the code's shape, checked by parsing it (see shared/reference/style.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", ".git", "tests", "artifacts", "data", "node_modules", "__pycache__"}
MAX_LINES = 400


def python_files(*roots: str) -> list[Path]:
    """Python files under the given repo-relative files or folders, outside SKIP_DIRS."""
    found: list[Path] = []
    for root in roots:
        path = REPO_ROOT / root
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [
                p for p in path.rglob("*.py")
                if not SKIP_DIRS.intersection(p.relative_to(REPO_ROOT).parts)
            ]
    return sorted(found)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_analytics_never_imports_streamlit():
    offenders = []
    for path in python_files("analytics"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(f"{rel(path)}:{node.lineno}")
    assert python_files("analytics"), "analytics/ holds no Python files"
    assert not offenders, f"analytics/ must stay testable without Streamlit: {offenders}"


def test_modules_stay_under_400_lines():
    too_long = {
        rel(p): n for p in python_files(".")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these along their seams (limit {MAX_LINES} lines): {too_long}"


def test_no_unsafe_html_in_ui():
    offenders = []
    for path in python_files("app.py", "pages", "ui"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    offenders.append(f"{rel(path)}:{node.value.lineno}")
    assert not offenders, f"unsafe_allow_html lets uploaded text inject HTML: {offenders}"


# --- SQL: no function argument interpolated into an f-string passed to execute() -------------
#
# Practical, not a full taint analysis: inside a function, an f-string given to
# execute/executemany/sql/query must not interpolate one of that function's parameters,
# unless the name says it is SQL built by the code (allow-list below), or it goes through a
# quoting helper or an SQL-building function of the project (defined in or imported into the
# module; those are checked where they execute). Values belong in bound parameters (`?`).
# Locals, loop variables and module constants are not traced.

SQL_METHODS = {"execute", "executemany", "sql", "query"}
QUOTING_HELPERS = {"qident", "_q", "_lit", "quote_ident", "quote_literal", "ident"}
SQL_NAME = re.compile(
    r"(^|_)(sql|cols|columns|clause|table|tables|where|scope|expr|ident|order_by|group_by)$",
    re.IGNORECASE,
)


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return set(names)


def _project_functions(module: ast.Module) -> set[str]:
    """Names of functions defined at module level or imported from the project's own code."""
    names = {n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in module.body:
        if isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").split(".")[0] in {"analytics", "ui"}
        ):
            names |= {a.asname or a.name for a in node.names}
    return names


def _suspicious_names(expr: ast.expr, params: set[str], trusted: set[str]) -> list[str]:
    """Parameters (or attributes of them) used in one interpolated expression."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in QUOTING_HELPERS or (isinstance(func, ast.Name) and name in trusted):
                return
            if isinstance(func, ast.Attribute):
                visit(func.value)  # ", ".join(x): judge x, not the literal
            for arg in (*node.args, *(k.value for k in node.keywords)):
                visit(arg)
            return
        if isinstance(node, ast.Attribute):
            if SQL_NAME.search(node.attr):
                return  # raw.table, filters.where_clause
            root = node
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in params:
                found.append(ast.unparse(node))
            return
        if isinstance(node, ast.Name):
            if node.id in params and not SQL_NAME.search(node.id):
                found.append(node.id)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(expr)
    return found


def interpolated_arguments(source: str) -> list[tuple[int, str]]:
    """(line, name) for each function argument interpolated into SQL given to execute()."""
    hits: list[tuple[int, str]] = []
    module = ast.parse(source)
    trusted = _project_functions(module)

    def scan(node: ast.AST, params: set[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                scan(child, params | _params(child))  # closures see the outer arguments
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in SQL_METHODS
                and child.args
                and isinstance(child.args[0], ast.JoinedStr)
            ):
                for part in child.args[0].values:
                    if isinstance(part, ast.FormattedValue):
                        hits.extend((child.lineno, n) for n in _suspicious_names(part.value, params, trusted))
            scan(child, params)

    scan(module, set())
    return hits


@pytest.mark.parametrize(
    "source, flagged",
    [
        ("def f(con, team):\n    con.execute(f\"SELECT 1 WHERE team = '{team}'\")", ["team"]),
        ("def f(cur, flt):\n    cur.execute(f'SELECT {flt.value}')", ["flt.value"]),
        ("def f(cur, name):\n    cur.sql(f'SELECT * FROM {name.upper()}')", ["name"]),
        ("def f(cur, where_sql, p):\n    cur.execute(f'SELECT 1 WHERE {where_sql}', p)", []),
        ("def f(cur, raw):\n    cur.execute(f'DROP TABLE {raw.table}')", []),
        ("def f(cur, t):\n    cur.execute(f'DROP TABLE {qident(t)}')", []),
        ("def f(cur, cols):\n    cur.execute(f'SELECT {\", \".join(cols)} FROM x')", []),
        ("def f(cur, x):\n    clause = 'a = ?'\n    cur.execute(f'SELECT 1 WHERE {clause}', [x])", []),
        ("def f(cur, v):\n    cur.execute('SELECT ?', [v])", []),
        ("def j(p):\n    return 'x'\ndef f(cur, p):\n    cur.execute(f'SELECT * FROM {j(p)}')", []),
        ("def f(cur, team):\n    cur.execute(f'SELECT {str(team)}')", ["team"]),
    ],
    ids=["argument", "attribute-of-argument", "method-of-argument", "named-sql", "named-table",
         "quoted-identifier", "joined-columns", "local-clause", "bound-value",
         "project-sql-builder", "builtin-around-argument"],
)
def test_sql_interpolation_check_itself(source: str, flagged: list[str]):
    assert [name for _, name in interpolated_arguments(source)] == flagged


def test_sql_values_are_bound_not_interpolated():
    offenders = [
        f"{rel(path)}:{line} interpolates argument {name!r}"
        for path in python_files("analytics")
        for line, name in interpolated_arguments(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "pass values as bound parameters (?), or quote identifiers with qident() and name "
        f"SQL fragments *_sql / *_clause: {offenders}"
    )
