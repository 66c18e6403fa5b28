"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import contextlib

import pytest

STORE_TABLES = ("tickets", "status_history", "datasets", "rejects", "duplicate_ids", "settings")


def snapshot(con) -> dict[str, tuple[int, str]]:
    """Row count and a content digest of every store table: equal snapshots = unchanged store."""
    out = {}
    cur = con.cursor()
    for table in STORE_TABLES:
        out[table] = cur.execute(
            f"SELECT count(*), md5(coalesce(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR)), '')) "
            f"FROM {table} t"
        ).fetchall()[0]
    return out


def write_csv(path, header: list[str], rows: list[list[str]], sep: str = ",") -> None:
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.contextmanager
def app_using(path, demo: bool = False):
    """Point the Streamlit app (AppTest, same process) at the store file `path`: one engagement's
    store opened directly, made with db.connect when missing (a missing HYPERCARE_DB would be a
    first start: a catalog of engagements).

    Caches are cleared on the way in and out: a connection cached by an earlier test would
    still hold its own file. Without `demo`, HYPERCARE_NO_DEMO=1 (it only matters to a first start).
    """
    from pathlib import Path

    import streamlit as st

    from analytics.store import db

    if not Path(path).exists():
        db.connect(path, held=False).close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERCARE_DB", str(path))
        if not demo:
            mp.setenv("HYPERCARE_NO_DEMO", "1")
        st.cache_resource.clear()
        st.cache_data.clear()
        try:
            yield path
        finally:
            st.cache_resource.clear()
            st.cache_data.clear()
