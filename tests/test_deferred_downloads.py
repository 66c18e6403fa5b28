"""Deferred CSV downloads keep no copy of the store alive (issue #14, the leak of old copies).

Streamlit keeps a closed browser session's deferred download callables for good
(streamlit/streamlit#12506); a callable that held the page's copy of the store kept 1.3 GB per
write alive at 1,000,000 tickets. `bench/concurrent_people.py --client protocol --cli-commands
ingest` measures the process; these tests pin the mechanism.
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import duckdb
import pandas as pd

from analytics.store import db
from ui import connection

REPO = Path(__file__).resolve().parents[1]


def _count(con: duckdb.DuckDBPyConnection, label: str) -> pd.DataFrame:
    n = con.execute("SELECT count(*) FROM tickets").fetchone()[0]
    return pd.DataFrame({"label": [label], "tickets": [n]})


def _store_with(path: Path, tickets: int) -> None:
    con = db.connect(path, held=False)
    try:
        for i in range(tickets):
            con.execute("INSERT INTO tickets (ticket_id, dataset_id) VALUES ($id, 1)", {"id": f"T{i}"})
    finally:
        con.close()


def test_the_page_copy_is_used_while_it_lives_and_not_kept_alive(tmp_path):
    store = tmp_path / "s.duckdb"
    _store_with(store, 3)
    page_copy = duckdb.connect(":memory:")
    page_copy.execute("CREATE TABLE tickets AS SELECT 1 AS x")  # one row: not the file's three

    rows = connection.RowsFromCopy(_count, page_copy, "backlog", path=store)
    assert rows().to_dict("records") == [{"label": "backlog", "tickets": 1}]

    page_copy.close()
    del page_copy
    gc.collect()
    assert rows._con() is None, "the deferred download still holds the page's copy"
    # The copy is gone (a newer one replaced it): the store's current copy answers.
    assert rows().to_dict("records") == [{"label": "backlog", "tickets": 3}]


def _deferred_data_arguments(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("download_csv", "download_button"):
                data = [kw.value for kw in node.keywords if kw.arg in ("data", "df")]
                if name == "download_csv" and node.args:
                    data.append(node.args[0])
                elif name == "download_button" and len(node.args) > 1:
                    data.append(node.args[1])
                yield from ((node.lineno, d) for d in data)


def test_no_page_hands_streamlit_a_closure_for_a_download():
    """A lambda or a function defined in a page keeps the page's globals (its store copy)."""
    offenders = []
    for path in [*sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py")), REPO / "app.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        local_functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for line, data in _deferred_data_arguments(tree):
            if isinstance(data, ast.Lambda) or (isinstance(data, ast.Name) and data.id in local_functions
                                                and path.parent.name == "pages"):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == [], f"deferred downloads built from page closures: {offenders}"
