"""A store written by main before engagements opens in this version as a catalog with a
Default and a Demo engagement (issue #13), in one step that leaves the file alone on failure."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics import upgrade as engagement_upgrade
from analytics.governance import signoff
from analytics.store import audit, auth, db, engagements, sharing
from analytics.store.auth import local_operator
from analytics.store.engagements import EngagementError

FIXTURE = Path(__file__).parent / "fixtures" / "store-2026-12-06.duckdb.gz"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "hypercare.duckdb"
    with gzip.open(FIXTURE) as src, path.open("wb") as out:
        shutil.copyfileobj(src, out)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_the_fixture_is_a_store_made_before_engagements(legacy):
    assert engagements.kind_of(legacy) == "legacy"
    assert _read(legacy, "SELECT source, count(*) FROM tickets GROUP BY 1 ORDER BY 1") == [
        ("hypercare", 300), ("servicenow", 2)]


def test_upgrade_splits_demo_from_the_rest_and_keeps_settings(legacy):
    before = {s: n for s, n in _read(legacy, "SELECT source, count(*) FROM tickets GROUP BY 1")}
    policies = _read(legacy, "SELECT version, policy_toml FROM sla_policies ORDER BY 1")
    result = engagement_upgrade.upgrade(legacy)
    assert result is not None and result.backup.exists()
    assert _digest(result.backup) != _digest(legacy)
    assert engagements.kind_of(legacy) == "catalog"
    found = {e.slug: e for e in engagements.list_engagements(legacy)}
    assert set(found) == {"default", "demo"} and found["demo"].is_demo and not found["default"].is_demo
    assert result.engagements == {"default": before["servicenow"], "demo": before["hypercare"]}
    for slug, source in (("default", "servicenow"), ("demo", "hypercare")):
        path = found[slug].path
        assert engagements.kind_of(path) == "engagement"
        assert _read(path, "SELECT DISTINCT source FROM tickets") == [(source,)]
        assert _read(path, "SELECT version, policy_toml FROM sla_policies ORDER BY 1") == policies
        assert _read(path, "SELECT value FROM settings WHERE key = 'default_timezone'") == [("Europe/Amsterdam",)]
        assert _read(path, "SELECT value FROM settings WHERE key = ?", [db.SCHEMA_VERSION_SETTING]) == [("2",)]
        # The sign-off and the whole audit trail come along, and the chain still verifies.
        con = db.connect(path, held=False)
        try:
            assert signoff.history(con)["name"].tolist() == ["Ana Example"]
            assert audit.verify(con) == []
            assert audit.trail(con, action=audit.STORE_UPGRADE).shape[0] == 1
        finally:
            con.close()
    # The installation's settings moved to the catalog.
    assert dict(_read(legacy, "SELECT key, value FROM settings WHERE key IN ('max_upload_mb', ?)",
                      [auth.ROLE_MAP_SETTING]))["max_upload_mb"] == "150"
    assert _read(found["default"].path, "SELECT count(*) FROM settings WHERE key = 'max_upload_mb'") == [(0,)]


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_resolve_upgrades_then_asks_which_engagement(legacy, monkeypatch):
    monkeypatch.delenv(engagements.ENV, raising=False)
    with pytest.raises(EngagementError, match="2 engagements .*--engagement SLUG.*Default \\(default\\)"):
        engagement_upgrade.resolve(legacy)
    assert engagement_upgrade.resolve(legacy, "demo").slug == "demo"
    monkeypatch.setenv(engagements.ENV, "default")
    assert engagement_upgrade.resolve(legacy).slug == "default"


def test_a_failed_upgrade_leaves_the_file_untouched(legacy, monkeypatch):
    before = _digest(legacy)

    def broken(*args, **kwargs):
        raise duckdb.IOException("disk full (simulated)")

    monkeypatch.setattr(engagement_upgrade, "_write_catalog", broken)
    with pytest.raises(engagement_upgrade.UpgradeError, match="left it as it was: .*disk full"):
        engagement_upgrade.upgrade(legacy)
    assert _digest(legacy) == before
    assert engagements.kind_of(legacy) == "legacy"
    assert not engagements.engagements_dir(legacy).exists() or not any(engagements.engagements_dir(legacy).iterdir())
    assert not list(legacy.parent.glob(".*upgrading"))
    # And it upgrades cleanly afterwards.
    monkeypatch.undo()
    assert engagement_upgrade.upgrade(legacy) is not None


def test_upgrade_refuses_when_an_engagement_file_is_in_the_way(legacy):
    folder = engagements.engagements_dir(legacy)
    folder.mkdir()
    (folder / "default.duckdb").write_bytes(b"someone's file")
    before = _digest(legacy)
    with pytest.raises(engagement_upgrade.UpgradeError, match="exists already"):
        engagement_upgrade.upgrade(legacy)
    assert _digest(legacy) == before
    assert (folder / "default.duckdb").read_bytes() == b"someone's file"


def test_a_store_with_only_demo_data_becomes_the_demo_engagement(tmp_path):
    from analytics.demo.loader import load_demo

    path = tmp_path / "old.duckdb"
    con = db.connect(path)
    load_demo(con, n_tickets=50, actor=local_operator("demo"))
    con.execute("DELETE FROM settings WHERE key = ?", [db.SCHEMA_VERSION_SETTING])  # as before engagements
    con.close()
    assert engagements.kind_of(path) == "legacy"
    result = engagement_upgrade.upgrade(path)
    assert result.engagements == {"demo": 50}
    assert engagements.resolve(path).slug == "demo"  # the only one


def test_an_upgraded_store_opens_like_any_engagement(legacy):
    engagement_upgrade.upgrade(legacy)
    demo = engagements.resolve(legacy, "demo")
    with sharing.reading(demo.path) as con:
        assert db.ticket_count(con) == 300
    assert engagement_upgrade.upgrade(legacy) is None  # nothing left to upgrade
