"""Fixtures for the connector tests: fresh stores, an operator, and what a store holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.store import auth, db

# Load bookkeeping: which upload wrote a row and when differ between a sync and an upload.
BOOKKEEPING = {"dataset_id", "loaded_at"}


@pytest.fixture
def operator() -> auth.Identity:
    return auth.local_operator("test")


@pytest.fixture
def new_store(tmp_path: Path) -> Iterator[Callable[[str], duckdb.DuckDBPyConnection]]:
    """Opens fresh stores in tmp_path by name; closes them after the test."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def make(name: str = "store") -> duckdb.DuckDBPyConnection:
        con = db.connect(tmp_path / f"{name}.duckdb")
        opened.append(con)
        return con

    yield make
    for con in opened:
        con.close()


def table(con: duckdb.DuckDBPyConnection, name: str, order: str, drop: set[str] = BOOKKEEPING) -> list[tuple]:
    """Every row of `name` without the `drop` columns, in `order`."""
    cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = $t "
                                      "ORDER BY ordinal_position", {"t": name}).fetchall() if r[0] not in drop]
    return con.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY {order}").fetchall()


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Everything a sync may write, as it is (bookkeeping included): for 'nothing changed'."""
    return {
        "tickets": table(con, "tickets", "ticket_id", set()),
        "status_history": table(con, "status_history", "ticket_id, seq", set()),
        "datasets": table(con, "datasets", "dataset_id", set()),
        "settings": table(con, "settings", "key", set()),
        "audit_log": table(con, "audit_log", "seq", set()),
        "store_version": db.store_version(con),
        "recurrence": table(con, "recurrence_signatures", "ALL", set()),
    }
