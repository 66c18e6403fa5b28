"""The engagement catalog: making, choosing, copying and removing engagements (issue #13)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analytics.sla import policy
from analytics.store import audit, auth, db, engagements, sharing
from analytics.store.auth import local_operator
from analytics.store.engagements import EngagementError


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return tmp_path / "hypercare.duckdb"


def _who(*roles: str) -> auth.Identity:
    return auth.Identity(name="Pat", email="pat@example.org", roles=frozenset(roles))


def test_a_new_engagement_gets_its_own_store_and_settings(catalog, monkeypatch):
    monkeypatch.delenv(engagements.ENV, raising=False)
    assert engagements.kind_of(catalog) == "missing"
    e = engagements.create(catalog, "erp-wave-1", "ERP wave 1", go_live=date(2026, 3, 2),
                           timezone_name="Europe/Amsterdam", window_days=30, cadence="daily",
                           actor=local_operator("tester"))
    assert engagements.kind_of(catalog) == "catalog"
    assert e.path.exists() and e.path.parent == engagements.engagements_dir(catalog)
    assert engagements.kind_of(e.path) == "engagement"
    d = engagements.details(e)
    assert (d.go_live, d.timezone, d.window_days, d.cadence) == (date(2026, 3, 2), "Europe/Amsterdam", 30, "daily")
    assert d.window_end == date(2026, 4, 1)
    assert engagements.resolve(catalog) == e  # the only one
    with sharing.reading(e.path) as con:
        assert audit.trail(con, action=audit.ENGAGEMENT_CREATE).shape[0] == 1
    with sharing.reading(catalog) as con:
        assert audit.trail(con, action=audit.ENGAGEMENT_CREATE)["object"].tolist() == ["engagement:erp-wave-1"]


def test_defaults_come_from_the_seed(catalog):
    e = engagements.create(catalog, "a", "A", go_live=None, actor=local_operator("tester"))
    d = engagements.details(e)
    assert (d.window_days, d.cadence, d.go_live, d.window_end) == (14, "weekly", None, None)


def test_copying_takes_policies_and_targets_but_not_identity(catalog):
    first = engagements.create(catalog, "first", "First", go_live=date(2026, 1, 5), timezone_name="Asia/Tokyo",
                               actor=local_operator("tester"))
    with sharing.writing(first.path) as con:
        policy.save_policy(con, policy.default_policy("Asia/Tokyo").model_copy(
            update={"version": "tokyo-v1"}), who=local_operator("tester"))
        audit.set_setting(con, "kpi_target.mttr", "240", local_operator("tester"))
    second = engagements.create(catalog, "second", "Second", go_live=date(2026, 6, 1), copy_from="first",
                                actor=local_operator("tester"))
    with sharing.reading(second.path) as con:
        assert policy.policy_versions(con)["version"].tolist() == ["tokyo-v1"]
        assert db.get_setting(con, "kpi_target.mttr") == "240"
        assert db.get_setting(con, engagements.SLUG_SETTING) == "second"
        assert db.ticket_count(con) == 0
    assert engagements.details(second).go_live == date(2026, 6, 1)
    assert engagements.details(second).timezone == "UTC"  # its own, not the source's


@pytest.mark.parametrize("slug", ["", "A", "-x", "x-", "a b", "a/b", "../x", "x" * 41, "é"])
def test_unusable_slugs_are_refused(catalog, slug):
    with pytest.raises(EngagementError, match="not a usable engagement slug"):
        engagements.create(catalog, slug, "x", go_live=None, actor=local_operator("tester"))
    assert engagements.kind_of(catalog) == "missing"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timezone_name": "Mars/Olympus"}, "not a time zone"),
    ({"window_days": 0}, "1 to 366 days"),
    ({"cadence": "hourly"}, "choose one of daily"),
    ({"copy_from": "nope"}, "no engagement 'nope'"),
])
def test_bad_settings_are_refused_and_nothing_is_left(catalog, kwargs, message):
    with pytest.raises(EngagementError, match=message):
        engagements.create(catalog, "x", "X", go_live=None, actor=local_operator("tester"), **kwargs)
    assert not (engagements.engagements_dir(catalog) / "x.duckdb").exists()
    assert engagements.kind_of(catalog) in ("missing", "catalog")
    if engagements.kind_of(catalog) == "catalog":
        assert engagements.list_engagements(catalog) == []


def test_a_slug_is_taken_once(catalog):
    engagements.create(catalog, "x", "X", go_live=None, actor=local_operator("tester"))
    with pytest.raises(EngagementError, match="already an engagement 'x'"):
        engagements.create(catalog, "x", "Other", go_live=None, actor=local_operator("tester"))


def test_choosing_among_several(catalog, monkeypatch):
    monkeypatch.delenv(engagements.ENV, raising=False)
    engagements.create(catalog, "b", "Beta", go_live=None, actor=local_operator("tester"))
    engagements.create(catalog, "a", "Alpha", go_live=None, actor=local_operator("tester"))
    with pytest.raises(EngagementError, match=r"2 engagements .*: Alpha \(a\), Beta \(b\)"):
        engagements.resolve(catalog)
    with pytest.raises(EngagementError, match=r"no engagement 'c' .*there are: Alpha \(a\), Beta \(b\)"):
        engagements.resolve(catalog, "c")
    assert engagements.resolve(catalog, "b").name == "Beta"
    monkeypatch.setenv(engagements.ENV, "a")
    assert engagements.resolve(catalog).name == "Alpha"


def test_a_missing_store_says_how_to_start(catalog):
    with pytest.raises(EngagementError, match="no store at .*analytics demo"):
        engagements.resolve(catalog)


def test_an_engagement_store_opened_directly_is_the_only_engagement(tmp_path):
    path = tmp_path / "one.duckdb"
    db.connect(path, held=False).close()
    e = engagements.resolve(path)
    assert (e.slug, e.catalog, e.path) == ("one", None, path)
    assert engagements.installation_store(e) == path
    with pytest.raises(EngagementError, match="store of the one engagement 'one', not 'other'"):
        engagements.resolve(path, "other")


def test_deleting_keeps_a_real_store_and_removes_the_demo(catalog):
    real = engagements.create(catalog, "real", "Real", go_live=None, actor=local_operator("tester"))
    demo = engagements.create(catalog, "demo", "Demo", go_live=None, is_demo=True, actor=local_operator("tester"))
    with pytest.raises(auth.PermissionDenied, match="needs admin"):
        engagements.delete(catalog, "real", actor=_who("analyst"))
    kept = engagements.delete(catalog, "real", actor=_who("admin"))
    assert kept is not None and kept.exists() and not real.path.exists()
    assert engagements.delete(catalog, "demo", actor=_who("analyst")) is None
    assert not demo.path.exists()
    assert engagements.list_engagements(catalog) == []
    with sharing.reading(catalog) as con:
        assert audit.trail(con, action=audit.ENGAGEMENT_DELETE).shape[0] == 2
        assert audit.verify(con) == []
    with pytest.raises(EngagementError, match="no engagement 'real' to delete"):
        engagements.delete(catalog, "real", actor=local_operator("tester"))


def test_a_viewer_cannot_create(catalog):
    with pytest.raises(auth.PermissionDenied):
        engagements.create(catalog, "x", "X", go_live=None, actor=_who("viewer"))
    assert engagements.kind_of(catalog) == "missing"


def test_slug_for_a_name():
    assert engagements.slug_for("ERP go-live, wave 2") == "erp-go-live-wave-2"
    assert engagements.slug_for("!!!") == "engagement"
    assert engagements.check_slug(engagements.slug_for("x" * 80)) == "x" * 40
