"""The one cache helper: values kept per store version, a few keys each, stale after any write."""

from __future__ import annotations

import pytest

from analytics.store import audit, db
from analytics.store.auth import local_operator
from analytics.store.cache import PerVersion, version_of


@pytest.fixture
def store(tmp_path):
    con = db.connect(tmp_path / "s.duckdb")
    yield con
    con.close()


def _builder(log: list):
    def build(key):
        log.append(key)
        return f"value for {key}"
    return build


def test_a_kept_value_is_built_once_per_version(store):
    kept: PerVersion[str] = PerVersion(keep=2)
    log: list = []
    assert kept.get(store, "a", _builder(log)) == "value for a"
    assert kept.get(store, "a", _builder(log)) == "value for a"
    assert log == ["a"]
    audit.set_setting(store, "go_live_date", "2026-09-01", local_operator("test"))  # any committed write
    kept.get(store, "a", _builder(log))
    assert log == ["a", "a"]


def test_the_version_counts_committed_writes_only(store):
    before = version_of(store)
    audit.set_setting(store, "go_live_date", "2026-09-01", local_operator("test"))
    assert version_of(store) == before + 1
    with pytest.raises(RuntimeError), audit.transaction(store) as cur:
        cur.execute("DELETE FROM settings")
        raise RuntimeError("rolled back")
    assert version_of(store) == before + 1 and db.get_setting(store, "go_live_date") == "2026-09-01"


def test_the_least_recently_used_key_goes_first(store):
    kept: PerVersion[str] = PerVersion(keep=2)
    log: list = []
    for key in ("a", "b", "a", "c", "a", "b"):
        kept.get(store, key, _builder(log))
    assert log == ["a", "b", "c", "b"]  # "b" went when "c" came ("a" had been used since)


def test_the_greatest_usable_key_serves(store):
    kept: PerVersion[str] = PerVersion(keep=3)
    log: list = []
    for base in (10, 30):
        kept.get(store, base, _builder(log))
    assert kept.get(store, 40, _builder(log), usable=lambda k: k <= 40) == "value for 30"
    assert kept.get(store, 20, _builder(log), usable=lambda k: k <= 20) == "value for 10"
    assert kept.get(store, 5, _builder(log), usable=lambda k: k <= 5) == "value for 5"
    assert log == [10, 30, 5]


def test_each_store_has_its_own_values(tmp_path, store):
    other = db.connect(tmp_path / "other.duckdb")
    kept: PerVersion[str] = PerVersion()
    log: list = []
    kept.get(store, "a", _builder(log))
    kept.get(other, "a", _builder(log))
    assert log == ["a", "a"]
    other.close()
