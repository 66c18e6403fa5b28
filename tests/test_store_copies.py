"""A dashboard process keeps a few stores' copies, the most recently used, not every one it showed."""

from __future__ import annotations

import pytest

from analytics.store import cache, db, sharing
from ui import store_view


@pytest.fixture
def stores(tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"s{i}.duckdb"
        con = db.connect(path, held=False)
        con.execute("INSERT INTO settings VALUES ('n', ?)", [str(i)])
        con.close()
        paths.append(path)
    store_view.forget()
    yield paths
    store_view.forget()


def _n(con) -> str:
    return con.execute("SELECT value FROM settings WHERE key = 'n'").fetchall()[0][0]


def test_only_the_most_recently_used_copies_are_kept(stores, monkeypatch):
    monkeypatch.setenv(store_view.KEEP_COPIES_ENV, "2")
    copies = [store_view.view(p).current() for p in stores]
    assert [_n(c) for c in copies] == ["0", "1", "2", "3", "4"]
    assert store_view.held() == 2
    assert store_view.view(stores[4]).fresh() is not None
    assert store_view.view(stores[3]).fresh() is not None
    assert store_view.view(stores[0]).fresh() is None
    assert _n(copies[0]) == "0"  # a page still running on a dropped copy finishes on it
    again = store_view.view(stores[0]).current()  # shown again: a new copy, the oldest goes
    assert again is not copies[0] and _n(again) == "0"
    assert store_view.view(stores[3]).fresh() is None
    assert store_view.held() == 2


def test_a_copy_unused_for_a_while_is_let_go(stores, monkeypatch):
    monkeypatch.setattr(store_view, "IDLE_S", 0.0)
    store_view.view(stores[0]).current()
    store_view.view(stores[1]).current()
    assert store_view.held() == 1
    assert store_view.view(stores[1]).fresh() is not None


@pytest.mark.parametrize("raw", ["0", "-3", "many"])
def test_a_bad_setting_still_keeps_at_least_one_copy(raw, monkeypatch):
    monkeypatch.setenv(store_view.KEEP_COPIES_ENV, raw)
    assert store_view.keep_copies() == (1 if raw != "many" else store_view.DEFAULT_KEEP_COPIES)


def test_a_copy_is_marked_as_one_and_its_version_is_read_once(stores, monkeypatch):
    con, _ = sharing.snapshot(stores[0])
    assert con in db.copies
    first = cache.version_of(con)

    def read_again(_con):
        raise RuntimeError("read again")

    monkeypatch.setattr(db, "store_version", read_again)
    assert cache.version_of(con) == first
    own = db.connect(stores[1])
    assert own not in db.copies
    with pytest.raises(RuntimeError, match="read again"):
        cache.version_of(own)
    own.close()
