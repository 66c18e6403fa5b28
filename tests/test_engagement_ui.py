"""Engagements in the dashboard (issue #13), driven headless through the router with AppTest:
first start, upgrade on open, the sidebar's choice and the URL, uploads into an engagement,
the Portfolio page and Governance's default as-of."""

from __future__ import annotations

import gzip
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import uploads
from analytics.demo.calendar import DEMO_TIMEZONE
from analytics.demo.generator import DEFAULT_GO_LIVE
from analytics.demo.loader import load_demo
from analytics.governance import portfolio
from analytics.store import audit, db, engagements, sharing
from analytics.store.auth import local_operator
from tests.helpers import app_using
from ui import engagement_state, upload_target

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "servicenow_event_log_sample.csv"
TIMEOUT = 180


def _tickets(path: Path) -> int:
    with sharing.reading(path) as con:
        return db.ticket_count(con)


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _go(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return {m.label: m.value for m in at.metric}[label]


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.info, *at.warning, *at.error, *at.success, *at.caption,
                                            *at.markdown)).replace("\\", "")


@pytest.fixture(scope="module")
def two_engagements(tmp_path_factory) -> Path:
    """A catalog with a Demo engagement (300 demo tickets) and "ServiceNow 2016" (the 2-ticket sample)."""
    path = tmp_path_factory.mktemp("engagements") / "hypercare.duckdb"
    demo = engagements.create(path, "demo", "Demo", go_live=DEFAULT_GO_LIVE, timezone_name=DEMO_TIMEZONE,
                              is_demo=True, actor=local_operator("tester"))
    with sharing.writing(demo.path) as con:
        load_demo(con, n_tickets=300, seed=5, actor=local_operator("demo"))
    real = engagements.create(path, "sn", "ServiceNow 2016", go_live=date(2016, 2, 29), actor=local_operator("tester"))
    with sharing.writing(real.path) as con:
        uploads.load(con, SAMPLE, uploaded_by=local_operator("tester"))
    return path


@pytest.fixture
def catalog(two_engagements, tmp_path):
    """A copy of the two-engagement catalog of this test's own, as HYPERCARE_DB."""
    folder = tmp_path / "store"
    shutil.copytree(two_engagements.parent, folder)
    with app_using(folder / two_engagements.name) as path:
        yield path


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """HYPERCARE_DB names a file that does not exist yet: a first start."""
    monkeypatch.setenv("HYPERCARE_DB", str(tmp_path / "first" / "hypercare.duckdb"))
    monkeypatch.delenv("HYPERCARE_NO_DEMO", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path / "first" / "hypercare.duckdb"
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.mark.slow
def test_first_start_makes_a_catalog_with_a_demo_engagement_holding_the_demo(fresh):
    at = _app()
    assert engagements.kind_of(fresh) == "catalog"
    [demo] = engagements.list_engagements(fresh)
    assert (demo.slug, demo.name, demo.is_demo) == ("demo", "Demo", True)
    d = engagements.details(demo)
    assert (d.go_live, d.timezone) == (DEFAULT_GO_LIVE, DEMO_TIMEZONE)
    assert _tickets(demo.path) == 5000 == int(_metric(at, "Tickets").replace(",", ""))
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "demo"
    assert at.query_params["engagement"] == "demo"
    assert "Engagement: Demo · Filters: none (all tickets) · 5,000 tickets" in _texts(at)


def test_first_start_without_demo_points_every_page_but_upload_to_the_upload_page(fresh, monkeypatch):
    monkeypatch.setenv("HYPERCARE_NO_DEMO", "1")
    at = _app()
    assert engagements.kind_of(fresh) == "catalog" and engagements.list_engagements(fresh) == []
    assert [i.value for i in at.info if "No engagement yet" in i.value]
    assert not at.metric
    _go(at, "pages/governance.py")
    assert [i.value for i in at.info if "No engagement yet" in i.value]
    _go(at, "pages/upload.py")
    assert at.selectbox(key="eng_target").options == ["New engagement…"]
    _go(at, "pages/portfolio.py")
    assert [i.value for i in at.info if "No engagement yet" in i.value]


@pytest.mark.slow
def test_a_store_made_before_engagements_is_upgraded_on_open(tmp_path):
    path = tmp_path / "hypercare.duckdb"
    with gzip.open(FIXTURES / "store-2026-12-06.duckdb.gz") as src, path.open("wb") as out:
        shutil.copyfileobj(src, out)
    with app_using(path):
        at = _app()
        told = [i.value for i in at.info if "upgraded" in i.value.lower()]
        assert len(told) == 1 and "default" in told[0] and "demo" in told[0], [i.value for i in at.info]
        assert engagements.kind_of(path) == "catalog"
        assert at.selectbox(key=engagement_state.PICK_KEY).options == ["Default", "Demo"]
        assert _metric(at, "Tickets") == "2"  # Default (the ServiceNow sample) comes first by name
        at.selectbox(key=engagement_state.PICK_KEY).set_value("demo").run()
        assert _metric(at, "Tickets") == "300"


def test_a_store_that_cannot_be_upgraded_is_one_line_and_nothing_else(tmp_path, monkeypatch):
    path = tmp_path / "hypercare.duckdb"
    with gzip.open(FIXTURES / "store-2026-12-06.duckdb.gz") as src, path.open("wb") as out:
        shutil.copyfileobj(src, out)
    (engagements.engagements_dir(path) / "default.duckdb").parent.mkdir()
    (engagements.engagements_dir(path) / "default.duckdb").write_bytes(b"in the way")
    with app_using(path):
        at = _app()
        assert len(at.error) == 1 and "could not upgrade" in at.error[0].value
        assert not at.metric and not at.title
        assert engagements.kind_of(path) == "legacy"


@pytest.mark.slow  # seconds of AppTest: in ./test.sh --all, not the quick run
def test_switching_engagement_switches_the_figures_and_clears_the_filters(catalog):
    at = _app()
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "demo"
    assert _metric(at, "Tickets") == "300"
    at.multiselect(key="f_severity").set_value(["SEV-1"]).run()
    assert int(_metric(at, "Tickets")) < 300
    at.selectbox(key=engagement_state.PICK_KEY).set_value("sn").run()
    assert not at.exception
    assert _metric(at, "Tickets") == "2"
    assert at.multiselect(key="f_severity").value == []
    assert at.query_params["engagement"] == "sn" and "severity" not in at.query_params
    assert "Engagement: ServiceNow 2016 · Filters: none (all tickets) · 2 tickets" in _texts(at)


def test_switching_on_settings_shows_the_other_engagements_settings(catalog):
    at = _go(_app(), "pages/settings.py")
    assert at.date_input(key="set_go_live").value == DEFAULT_GO_LIVE
    at.selectbox(key=engagement_state.PICK_KEY).set_value("sn").run()
    assert not at.exception, [e.message for e in at.exception]
    # a widget keeps its value across reruns: the switch must drop the Demo's go-live
    assert at.date_input(key="set_go_live").value == date(2016, 2, 29)
    assert "Engagement: ServiceNow 2016 · Stored in the engagement's store" in _texts(at)


@pytest.mark.slow
def test_the_address_opens_its_engagement_and_an_unknown_one_falls_back_with_a_warning(catalog):
    at = _app({"engagement": "sn"})
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "sn" and _metric(at, "Tickets") == "2"
    # a link (the Portfolio's) changes the address of a session that shows another engagement
    at = _app()
    at.query_params["engagement"] = "sn"
    _go(at, "pages/overview.py")
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "sn" and _metric(at, "Tickets") == "2"
    at = _app({"engagement": "nope"})
    assert [w.value.replace("\\", "") for w in at.warning] == ["There is no engagement 'nope': showing Demo instead."]
    assert _metric(at, "Tickets") == "300" and at.query_params["engagement"] == "demo"


@pytest.mark.slow  # seconds of AppTest: in ./test.sh --all, not the quick run
def test_upload_into_the_demo_engagement_is_refused(catalog):
    demo = engagements.resolve(catalog, "demo")
    at = _go(_app(), "pages/upload.py")
    at.file_uploader(key="upload_file").set_value((SAMPLE.name, SAMPLE.read_bytes(), "text/csv")).run()
    assert [e.value for e in at.error] == [upload_target.DEMO_REFUSAL]
    assert at.button(key="upload_go").disabled  # AppTest, like a browser, can't click it
    assert _tickets(demo.path) == 300 and len(engagements.list_engagements(catalog)) == 2


@pytest.mark.slow
def test_upload_into_a_new_engagement_makes_it_with_the_go_live_from_the_file(catalog):
    at = _go(_app(), "pages/upload.py")
    at.selectbox(key="eng_target").set_value(upload_target.NEW).run()
    at.file_uploader(key="upload_file").set_value((SAMPLE.name, SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.date_input(key="eng_new_go_live").value == date(2016, 2, 29)  # the earliest opened_at
    at.text_input(key="eng_new_name").set_value("ERP wave 1").run()
    at.selectbox(key="eng_new_tz").set_value("Europe/Amsterdam").run()
    at.button(key="upload_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("2 inserted" in s.value for s in at.success), [s.value for s in at.success]
    made = engagements.resolve(catalog, "erp-wave-1")
    assert made.name == "ERP wave 1" and not made.is_demo and _tickets(made.path) == 2
    d = engagements.details(made)
    assert (d.go_live, d.timezone, d.window_days) == (date(2016, 2, 29), "Europe/Amsterdam", 14)
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "erp-wave-1"  # it is shown next
    assert at.query_params["engagement"] == "erp-wave-1"
    assert _tickets(engagements.resolve(catalog, "demo").path) == 300  # the demo is untouched


@pytest.mark.slow
def test_a_failed_upload_into_a_new_engagement_leaves_no_engagement_behind(catalog, monkeypatch):
    from analytics.ingest import pipeline as ingest
    from analytics.ingest.stage import IngestError

    before = [e.slug for e in engagements.list_engagements(catalog)]

    def fails(*_args, **_kwargs):
        raise IngestError("helpdesk.csv: row 7: the write failed (a test's stand-in)")

    monkeypatch.setattr(ingest, "apply_staged", fails)
    at = _go(_app(), "pages/upload.py")
    at.selectbox(key="eng_target").set_value(upload_target.NEW).run()
    at.file_uploader(key="upload_file").set_value((SAMPLE.name, SAMPLE.read_bytes(), "text/csv")).run()
    at.text_input(key="eng_new_name").set_value("Never made").run()
    at.button(key="upload_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("row 7" in e.value and "write failed" in e.value for e in at.error), [e.value for e in at.error]
    assert [e.slug for e in engagements.list_engagements(catalog)] == before
    assert not (engagements.engagements_dir(catalog) / "never-made.duckdb").exists()
    assert at.query_params.get("engagement") != "never-made"
    with sharing.reading(catalog) as con:
        discarded = con.execute("SELECT detail FROM audit_log WHERE action = ? AND object = ?",
                                [audit.ENGAGEMENT_DELETE, "engagement:never-made"]).fetchall()
    assert len(discarded) == 1 and "its first upload failed" in discarded[0][0]


@pytest.mark.slow  # seconds of AppTest: in ./test.sh --all, not the quick run
def test_portfolio_lists_each_engagement_with_its_own_figures_and_a_link(catalog):
    at = _go(_app(), "pages/portfolio.py")
    table = at.dataframe[0].value
    assert list(table["engagement"]) == ["Demo (demo data)", "ServiceNow 2016"]
    assert list(table["tickets"]) == [300, 2]
    assert list(table["go_live"]) == [DEFAULT_GO_LIVE, date(2016, 2, 29)]
    assert "resolution SLA compliance" in _texts(at)  # the definitions beneath
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert links == [("overview", "engagement=demo"), ("overview", "engagement=sn")]


@pytest.mark.slow
def test_deleting_the_demo_engagement_is_one_action_with_a_confirmation(catalog):
    demo = engagements.resolve(catalog, "demo")
    at = _go(_app(), "pages/portfolio.py")
    assert at.button(key="portfolio_delete_demo").disabled
    at.checkbox(key="portfolio_delete_demo_sure").check().run()
    at.button(key="portfolio_delete_demo").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert [e.slug for e in engagements.list_engagements(catalog)] == ["sn"] and not demo.path.exists()
    assert "Deleted the Demo engagement" in _texts(at)
    assert at.selectbox(key=engagement_state.PICK_KEY).value == "sn"
    assert list(at.dataframe[0].value["engagement"]) == ["ServiceNow 2016"]


def test_governance_defaults_to_the_window_end_or_last_event_with_the_data_range_beside(catalog):
    sn = engagements.resolve(catalog, "sn")
    with sharing.reading(sn.path) as con:
        as_of = portfolio.governance_as_of(con)
    at = _go(_app({"engagement": "sn"}), "pages/governance.py")
    shown = at.date_input(key="gov_as_of").value
    assert shown == ((as_of - timedelta(microseconds=1)).date() if as_of.time() == time.min else as_of.date())
    assert shown < datetime.now().date()
    assert "Data from 2016-02-29 to 2016-03-06; hypercare window 2016-02-29 – 2016-03-14." in _texts(at)
    assert f"as of {as_of:%Y-%m-%d %H:%M} UTC" in _texts(at)  # the scorecard is evaluated at it


@pytest.mark.slow  # seconds of AppTest: in ./test.sh --all, not the quick run
def test_the_upload_limit_is_the_installations_and_the_go_live_the_engagements(catalog):
    at = _go(_app(), "pages/settings.py")
    at.number_input(key="set_max_upload_mb").set_value(321)
    at.date_input(key="set_go_live").set_value(date(2026, 9, 8))
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with sharing.reading(catalog) as con:
        assert db.get_setting(con, "max_upload_mb") == "321"
    with sharing.reading(engagements.resolve(catalog, "demo").path) as con:
        assert db.get_setting(con, "max_upload_mb") is None
        assert db.get_setting(con, engagements.GO_LIVE_SETTING) == "2026-09-08"
    _go(at, "pages/upload.py")
    assert "up to 321 MB" in at.file_uploader(key="upload_file").help
