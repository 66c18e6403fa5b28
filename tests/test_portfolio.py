"""The portfolio: engagements side by side, each row computed on its own store only (issue #13)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from analytics.demo.calendar import DEMO_TIMEZONE
from analytics.demo.generator import DEFAULT_GO_LIVE
from analytics.demo.loader import DEMO_SIGNOFFS, load_demo
from analytics.governance import portfolio, signoff
from analytics.ingest.pipeline import ingest_file
from analytics.store import engagements, sharing
from analytics.store.auth import local_operator

SAMPLE = Path(__file__).parent / "fixtures" / "servicenow_event_log_sample.csv"


@contextmanager
def _reading(e):
    with sharing.reading(e.path) as con:
        yield con


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("portfolio") / "hypercare.duckdb"
    demo = engagements.create(path, "demo", "Demo", go_live=DEFAULT_GO_LIVE, timezone_name=DEMO_TIMEZONE,
                              is_demo=True, actor=local_operator("tester"))
    with sharing.writing(demo.path) as con:
        load_demo(con, n_tickets=400, seed=3, actor=local_operator("demo"))
        signoff.record(con, "IT Director", "Ana", DEFAULT_GO_LIVE, "ok", actor=local_operator("tester"))
    real = engagements.create(path, "sn", "ServiceNow 2016", go_live=date(2016, 2, 29), actor=local_operator("tester"))
    with sharing.writing(real.path) as con:
        ingest_file(con, SAMPLE, uploaded_by=local_operator("tester"))
    return path


def test_each_row_counts_only_its_own_engagement(catalog):
    df = portfolio.table(engagements.list_engagements(catalog), _reading).set_index("slug")
    assert list(df.index) == ["demo", "sn"]
    for slug in df.index:
        e = engagements.resolve(catalog, slug)
        with sharing.reading(e.path) as con:
            assert df.loc[slug, "tickets"] == con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
    assert df.loc["demo", "tickets"] == 400 and df.loc["sn", "tickets"] == 2
    assert df.loc["sn", "go_live"] == date(2016, 2, 29)
    assert df.loc["sn", "data_from"] == date(2016, 2, 29)
    # the demo's own sign-offs (a store without any gets them) and Ana's
    assert df.loc["demo", "signoffs_signed"] == len(DEMO_SIGNOFFS) + 1 and df.loc["sn", "signoffs_signed"] == 0
    assert df.loc["demo", "criteria_total"] == df.loc["sn", "criteria_total"] > 0


def test_governance_as_of_is_the_window_end_or_the_last_event(catalog):
    demo = engagements.resolve(catalog, "demo")
    with sharing.reading(demo.path) as con:
        as_of = portfolio.governance_as_of(con)
        d = engagements.details(demo, con)
    assert as_of == datetime.combine(d.window_end, datetime.min.time())  # the demo runs past its window
    sn = engagements.resolve(catalog, "sn")
    with sharing.reading(sn.path) as con:
        last = con.execute("SELECT max(greatest(opened_at, coalesce(resolved_at, opened_at), "
                           "coalesce(closed_at, opened_at))) FROM tickets").fetchall()[0][0]
        history_last = con.execute("SELECT max(event_time) FROM status_history").fetchall()[0][0]
        assert portfolio.governance_as_of(con) == max(last, history_last or last)


def test_open_sev12_matches_a_direct_count(catalog):
    demo = engagements.resolve(catalog, "demo")
    df = portfolio.table([demo], _reading)
    with sharing.reading(demo.path) as con:
        as_of = portfolio.governance_as_of(con)
        frame = con.execute("SELECT severity, opened_at, resolved_at, status_category FROM tickets").df()
    open_then = frame[frame["severity"].isin(["SEV-1", "SEV-2"]) & (frame["opened_at"] <= as_of)
                      & (frame["resolved_at"].isna() | (frame["resolved_at"] > as_of))
                      & (frame["status_category"] != "cancelled")]
    assert df.loc[0, "open_sev12"] == len(open_then)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == portfolio.COLUMNS


@pytest.mark.parametrize("slug", ["demo", "sn"])
def test_each_engagements_monthly_report_names_it_and_counts_only_its_tickets(catalog, slug):
    from analytics.report import builder

    e = engagements.resolve(catalog, slug)
    with _reading(e) as con:
        month = f"{con.execute('SELECT min(opened_at) FROM tickets').fetchall()[0][0]:%Y-%m}"
        rep = builder.build(con, month)
        start, end = builder.month_range(month)
        own = con.execute("SELECT count(*) FROM tickets WHERE opened_at >= $s AND opened_at < $e + INTERVAL 1 DAY",
                          {"s": start, "e": end}).fetchall()[0][0]
    cover = rep.section("provenance").blocks[0].data.set_index("item")["value"]
    assert e.name in rep.title
    assert cover["Engagement"].startswith(f"{e.name} ({slug}): ")
    assert "this report holds its data only" in cover["Engagement"]
    assert own > 0
    assert f"{own:,} tickets" in rep.caption, rep.caption


def test_a_store_without_an_engagement_has_no_engagement_on_the_cover(con):
    from analytics.demo.loader import load_demo
    from analytics.report import builder

    load_demo(con, n_tickets=50, seed=1, actor=local_operator("demo"))
    rep = builder.build(con, f"{DEFAULT_GO_LIVE:%Y-%m}")
    cover = rep.section("provenance").blocks[0].data
    assert "Engagement" not in set(cover["item"])
    assert rep.engagement == "" and rep.title.startswith("Hypercare monthly governance report — ")


# --- the page's rows: cached per store version, each computed on a copy let go of afterwards ----

@pytest.mark.slow
def test_a_visit_recomputes_only_the_engagement_whose_store_changed(catalog, monkeypatch):
    from ui import portfolio_state, store_view

    portfolio_state.forget_rows()
    listed = engagements.list_engagements(catalog)
    computed: list[str] = []
    real_row = portfolio.row

    def counting(e, con, now=None):
        computed.append(e.slug)
        return real_row(e, con, now)

    monkeypatch.setattr(portfolio, "row", counting)
    first = portfolio_state.rows(listed)
    assert sorted(computed) == ["demo", "sn"]
    assert store_view.held() == 0  # each copy was taken for its row alone
    computed.clear()
    again = portfolio_state.rows(listed)
    assert computed == []
    pd.testing.assert_frame_equal(first, again)
    sn = next(e for e in listed if e.slug == "sn")
    with sharing.writing(sn.path) as con:
        con.execute("DELETE FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM tickets LIMIT 1)")
    third = portfolio_state.rows(listed)
    assert computed == ["sn"]
    by_slug = third.set_index("slug")
    assert by_slug.loc["sn", "tickets"] == first.set_index("slug").loc["sn", "tickets"] - 1
    assert by_slug.loc["demo", "tickets"] == first.set_index("slug").loc["demo", "tickets"]


@pytest.mark.slow
def test_a_row_whose_as_of_is_the_clock_is_recomputed_the_next_minute(catalog, monkeypatch):
    """A window and data reaching past now bind the as-of to the clock: that row lives a minute."""
    from ui import cache, portfolio_state

    portfolio_state.forget_rows()
    listed = engagements.list_engagements(catalog)
    demo = [e for e in listed if e.slug == "demo"]
    computed: list[datetime] = []
    real_row = portfolio.row

    def counting(e, con, now=None):
        computed.append(now)
        return real_row(e, con, now)

    monkeypatch.setattr(portfolio, "row", counting)
    early = datetime(2026, 9, 10, 9, 0)  # inside the demo's window and data: the as-of is the clock
    for minute in (early, early, early.replace(minute=1)):
        monkeypatch.setattr(cache, "as_of_now", lambda m=minute: m)
        got = portfolio_state.rows(demo)
    assert computed == [early, early.replace(minute=1)]
    assert got.loc[0, "as_of"] == early.replace(minute=1)
    late = datetime(2027, 1, 5, 9, 0)  # after the window: the as-of is its end, for the whole day
    for minute in (late, late.replace(minute=7)):
        monkeypatch.setattr(cache, "as_of_now", lambda m=minute: m)
        portfolio_state.rows(demo)
    assert computed[2:] == [late]


def test_the_table_writes_kpis_as_the_overview_does_and_defines_them_by_their_registry_names(catalog):
    from analytics.charts import kpi
    from analytics.kpi import registry
    from ui import portfolio_state

    portfolio_state.forget_rows()
    rows = portfolio_state.rows(engagements.list_engagements(catalog))
    shown = portfolio_state.shown(rows).set_index("engagement")
    demo = rows.set_index("slug").loc["demo"]
    assert shown.loc["Demo (demo data)", "mttr"] == (
        f"{kpi.fmt(demo['mttr_median_h'], 'hours')} (n {demo['mttr_n']:,})")  # "1 h 32 min", not "1.5 h"
    assert shown.loc["Demo (demo data)", "resolution_sla"].startswith(kpi.fmt(demo["resolution_sla_pct"], "%"))
    text = " ".join(f"{label}: {definition}" for label, definition in portfolio_state.definitions())
    assert registry.get("mttr").name in text and registry.get("resolution_sla").name in text
    assert "'mttr'" not in text and "resolution_sla" not in text  # no internal keys
    # counts through the table's default format ("3,932"), not a page's own unseparated "%d"
    formats = {c.get("type_config", {}).get("format") for c in portfolio_state.COLUMNS.values()}
    assert not formats & {"%d", "localized"}
    # the figures first, the dates (context) last: where a narrow page scrolls to
    assert list(portfolio_state.COLUMNS)[:7] == ["engagement", "tickets", "open_sev12", "resolution_sla", "mttr",
                                                  "criteria", "signoffs"]
