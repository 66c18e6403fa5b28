"""The command line works on one engagement: --engagement, HYPERCARE_ENGAGEMENT, the only one (issue #13)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from analytics.cli import main
from analytics.store import engagements

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "servicenow_event_log_sample.csv"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(engagements.ENV, raising=False)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "hypercare.duckdb"
    with gzip.open(FIXTURES / "store-2026-12-06.duckdb.gz") as src, path.open("wb") as out:
        shutil.copyfileobj(src, out)
    return path


def _ticket_ids(capsys, *argv: str) -> set[str]:
    code, out, err = _run(capsys, "tickets", "--json", *argv)
    assert code == 0, err
    return {t["ticket_id"] for t in json.loads(out)}


def test_a_store_from_before_engagements_is_upgraded_and_each_engagement_read_alone(capsys, legacy):
    code, _, err = _run(capsys, "kpis", "--db", str(legacy))
    assert code == 2
    assert "upgraded" in err and "'default' (2 tickets)" in err and "'demo' (300 tickets)" in err
    assert "error: 2 engagements" in err and "--engagement SLUG" in err and "Traceback" not in err
    demo = _ticket_ids(capsys, "--db", str(legacy), "--engagement", "demo")
    default = _ticket_ids(capsys, "--db", str(legacy), "--engagement", "default")
    assert len(demo) == 300 and len(default) == 2 and not demo & default


@pytest.mark.slow
def test_ingest_into_a_new_engagement_and_refuse_the_demo(capsys, legacy, monkeypatch):
    code, _, err = _run(capsys, "ingest", str(SAMPLE), "--db", str(legacy), "--engagement", "demo")
    assert code == 2 and "only the generated demo data" in err
    code, out, err = _run(capsys, "ingest", str(SAMPLE), "--db", str(legacy), "--engagement", "sn-2016",
                          "--create", "--name", "ServiceNow 2016", "--go-live", "2016-02-29")
    assert code == 0, err
    monkeypatch.setenv(engagements.ENV, "sn-2016")
    assert len(_ticket_ids(capsys, "--db", str(legacy))) == 2
    code, out, _ = _run(capsys, "engagements", "list", "--json", "--db", str(legacy))
    listed = {r["slug"]: r for r in json.loads(out)}
    assert set(listed) == {"default", "demo", "sn-2016"}
    assert listed["sn-2016"]["go_live"] == "2016-02-29" and listed["demo"]["demo"] is True


def test_an_unknown_engagement_is_one_line_listing_the_others(capsys, legacy):
    code, _, err = _run(capsys, "sla", "--summary", "--db", str(legacy), "--engagement", "nope")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: no engagement 'nope'")
    assert "Default (default), Demo (demo)" in err


def test_engagements_create_and_delete_from_the_command_line(capsys, tmp_path):
    cat = tmp_path / "cat.duckdb"
    code, out, err = _run(capsys, "engagements", "create", "erp", "--name", "ERP", "--go-live", "2026-03-02",
                          "--tz", "Europe/Amsterdam", "--window-days", "30", "--db", str(cat))
    assert code == 0, err
    assert "created the engagement 'erp'" in out
    code, _, err = _run(capsys, "engagements", "create", "erp", "--db", str(cat))
    assert code == 2 and "already an engagement 'erp'" in err
    code, _, err = _run(capsys, "engagements", "create", "x", "--tz", "Mars/Base", "--db", str(cat))
    assert code == 2 and "not a time zone" in err
    code, out, _ = _run(capsys, "engagements", "--db", str(cat))
    assert "erp" in out and "Europe/Amsterdam" in out and "30 days" in out
    code, out, err = _run(capsys, "engagements", "delete", "erp", "--db", str(cat))
    assert code == 0, err
    assert "deleted.duckdb" not in out and "moved to" in out
    code, _, err = _run(capsys, "kpis", "--db", str(cat))
    assert code == 2 and "has no engagement yet" in err


def test_a_new_file_without_an_engagement_is_one_engagement_store(capsys, tmp_path):
    path = tmp_path / "one.duckdb"
    code, _, err = _run(capsys, "ingest", str(SAMPLE), "--db", str(path))
    assert code == 0, err
    assert engagements.kind_of(path) == "engagement"
    code, _, err = _run(capsys, "kpis", "--db", str(path), "--engagement", "other")
    assert code == 2 and "store of the one engagement 'one'" in err


@pytest.mark.slow
def test_demo_into_a_named_engagement_of_a_new_catalog(capsys, tmp_path):
    cat = tmp_path / "cat.duckdb"
    code, _, err = _run(capsys, "demo", "--tickets", "120", "--db", str(cat), "--engagement", "demo")
    assert code == 0, err
    e = engagements.resolve(cat)
    assert e.is_demo and e.slug == "demo"
    assert len(_ticket_ids(capsys, "--db", str(cat))) == 120
