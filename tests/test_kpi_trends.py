"""KPI trends: buckets agree with single-period KPIs, XmR limits, the CLI, charts and cards."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.charts import kpi
from analytics.cli import main
from analytics.demo.loader import load_demo
from analytics.kpi import kpis, overview, trends
from analytics.kpi.facts import period_of
from analytics.store import db, engagements
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from analytics.store.periods import buckets
from tests.helpers import app_using

AS_OF = datetime(2026, 11, 23, 12, 0)
MONDAY = date(2026, 9, 14)
WEEKS = Filters(date_from=MONDAY, date_to=MONDAY + timedelta(days=4 * 7 - 1))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("trends") / "demo.duckdb"
    con = db.connect(path)
    load_demo(con, n_tickets=2000, actor=local_operator("demo"))
    yield con, path
    con.close()


@pytest.mark.parametrize("key", ["mttr", "mtta", "tickets", "reopen_rate", "open_backlog",
                                 "availability", "response_sla"])
def test_weekly_trend_equals_each_week_computed_alone(demo, key):
    con, _ = demo
    df = trends.trend(con, WEEKS, key, "week", "none", AS_OF)
    assert list(df["bucket"]) == [MONDAY + timedelta(days=7 * i) for i in range(4)]
    for _i, row in df.iterrows():
        week = Filters(date_from=row["bucket"], date_to=row["bucket"] + timedelta(days=6))
        alone = kpis.results(con, week, AS_OF, keys=(key,), previous=False)[key]
        if alone.value is None:
            assert np.isnan(row["value"])
        else:
            assert row["value"] == pytest.approx(alone.value), (key, row["bucket"])
    # The previous period is the four weeks before, aligned week by week.
    before = trends.trend(con, Filters(date_from=MONDAY - timedelta(days=28),
                                           date_to=MONDAY - timedelta(days=1)), key, "week",
                              "none", AS_OF)
    np.testing.assert_allclose(df["previous"].to_numpy(float), before["value"].to_numpy(float))


def test_split_by_severity_equals_the_severity_filter(demo):
    con, _ = demo
    df = trends.trend(con, WEEKS, "mtta", "month", "severity", AS_OF)
    for (bucket, group), row in df.set_index(["bucket", "group"]).iterrows():
        if group not in ("SEV-1", "SEV-2"):
            continue
        start = max(pd.Timestamp(bucket).date(), WEEKS.date_from)
        end = min((pd.Timestamp(bucket) + pd.offsets.MonthEnd(0)).date(), WEEKS.date_to)
        alone = kpis.results(con, Filters(date_from=start, date_to=end, severity=(group,)),
                             AS_OF, keys=("mtta",), previous=False)["mtta"]
        assert row["value"] == pytest.approx(alone.value)


@pytest.mark.parametrize("values, special", [
    ([10, 11, 9, 10, 10, 11, 9, 30], [7]),
    ([5, 5, 5, 5], []),
    ([1.0, np.nan, 2.0, 1.5, 1.2], []),
    ([7.0], []),
])
def test_xmr_limits(values, special):
    out = trends.xmr(pd.Series(values, dtype="float64"))
    x = pd.Series(values, dtype="float64").dropna()
    mr = x.diff().abs().dropna()
    if len(x) >= 2:
        assert out["ucl"].iloc[0] == pytest.approx(x.mean() + 2.66 * mr.mean())
        assert out["lcl"].iloc[0] == pytest.approx(x.mean() - 2.66 * mr.mean())
    else:
        assert out["ucl"].isna().all()
    assert list(np.flatnonzero(out["special_cause"])) == special


def test_unknown_grain_and_split_are_refused(demo):
    con, _ = demo
    with pytest.raises(ValueError, match="grain"):
        trends.trend(con, WEEKS, "mttr", "fortnight", "none", AS_OF)
    with pytest.raises(ValueError, match="split"):
        trends.trend(con, WEEKS, "mttr", "week", "title", AS_OF)


def test_cli_kpis_json(demo, capsys):
    con, path = demo
    con.execute("CHECKPOINT")
    assert main(["kpis", "--db", str(path), "--from", "2026-09-14", "--to", "2026-10-11",
                 "--severity", "SEV-1,SEV-2", "--by", "severity", "--as-of", "2026-11-23T12:00",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["group"] for r in rows] == ["SEV-1", "SEV-2"]
    fields = {"group", "tickets", "open", "mtta_median_minutes", "mtta_mean_minutes",
              "mttr_median_hours", "mttr_mean_hours", "mttr_p90_hours", "mttd_median_minutes",
              "mtbf_hours", "availability_pct", "response_sla_met_pct", "resolution_sla_met_pct",
              "reopen_rate_pct", "excluded"}
    assert fields <= set(rows[0])
    f = Filters(date_from=date(2026, 9, 14), date_to=date(2026, 10, 11), severity=("SEV-2",))
    ref = kpis.results(con, f, AS_OF, previous=False)
    sev2 = rows[1]
    assert sev2["tickets"] == ref["tickets"].value
    assert sev2["mttr_mean_hours"] == pytest.approx(ref["mttr"].value, abs=1e-3)
    assert sev2["mtta_median_minutes"] == pytest.approx(ref["mtta"].stats["median"], abs=1e-3)
    assert sev2["reopen_rate_pct"] == pytest.approx(ref["reopen_rate"].value, abs=1e-3)


def test_cli_kpis_text_and_nulls(con, tmp_path, capsys):
    path = tmp_path / "empty.duckdb"
    db.connect(path).close()
    assert main(["kpis", "--db", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["group"] == "All" and row["tickets"] == 0 and row["mttr_mean_hours"] is None
    assert "no tickets" in row["excluded"]["mttr"]["reason"]
    assert main(["kpis", "--db", str(path)]) == 0
    assert "mttr_mean_hours=n/a" in capsys.readouterr().out


def test_hypercare_daily(demo):
    con, _ = demo
    go_live = date(2026, 9, 7)
    df = trends.hypercare_daily(overview.volume_by_day(con, Filters()), go_live)
    assert df["day"].iloc[0] == go_live
    assert list(df["phase"][:14]) == ["hypercare"] * 14 and df["phase"].iloc[14] == "after"
    assert df["rolling_mean"].iloc[6] == pytest.approx(df["tickets"].iloc[:7].mean())
    assert df["tickets"].sum() == kpis.results(con, Filters(date_from=go_live), AS_OF,
                                               keys=("tickets",), previous=False)["tickets"].value
    fig = kpi.hypercare_chart(df, go_live, 14)
    assert fig.layout.title.text and "2 weeks of hypercare" in kpi.describe_hypercare(df, go_live, 14)
    # The engagement's window sets the phase; days stop where the data does (none invented).
    long = trends.hypercare_daily(overview.volume_by_day(con, Filters()), go_live, 70)
    assert list(long["phase"][:70]) == ["hypercare"] * 70 and long["day"].iloc[-1] == df["day"].iloc[-1]


def test_xmr_limits_stay_within_what_the_kpi_can_take():
    values = pd.Series([0.0, 50.0, 0.0, 50.0, 0.0, 100.0])
    free = trends.xmr(values)
    assert free["lcl"].iloc[0] < 0 and free["ucl"].iloc[0] > 100
    bounded = trends.xmr(values, 0.0, 100.0)
    assert bounded["lcl"].iloc[0] == 0.0 and bounded["ucl"].iloc[0] == 100.0
    assert list(bounded["special_cause"]) == list(free["special_cause"])


def test_trend_chart_marks_target_and_special_causes_without_colour_alone(demo):
    con, _ = demo
    df = trends.trend(con, Filters(), "tickets", "day", "none", AS_OF)
    assert df["special_cause"].any()  # the go-live surge is outside the limits
    fig = kpi.trend_chart(df, "tickets", 40.0, "day")
    special = [t for t in fig.data if "special cause" in (t.name or "")]
    assert special and special[0].marker.symbol == "diamond-open"
    # Named by the legend and the hover, not by text beside each point (those ran into each other).
    assert special[0].mode == "markers" and special[0].text is None
    assert "special cause" in special[0].hovertemplate
    assert any(s.y0 == 40.0 for s in fig.layout.shapes)
    assert {"upper control limit", "lower control limit"} <= {t.name for t in fig.data}
    # The legend lists only drawn lines: the demo has nothing before go-live, so no previous period.
    assert ("previous period" in {t.name for t in fig.data}) == bool(df["previous"].notna().any())
    assert all(pd.Series(t.y, dtype="float64").notna().any() for t in fig.data)
    assert "special causes" in kpi.describe_trend(df, "tickets", 40.0, "day")


def test_a_partial_first_or_last_bucket_is_marked_and_never_a_special_cause(demo):
    con, _ = demo
    df = trends.trend(con, Filters(), "tickets", "week", "none", AS_OF)
    period = period_of(con, Filters(), AS_OF)
    spans = buckets(period, "week")
    # independent: a week is partial when the period's start or end falls inside it
    expected = [(end - start) < timedelta(days=7) for _, start, end in spans]
    assert df["partial"].tolist() == expected and any(expected)
    assert not df.loc[df["partial"], "special_cause"].any()
    whole = df.loc[~df["partial"], "value"]
    assert df["mean"].iloc[0] == pytest.approx(whole.mean())  # the limits come from whole weeks only
    fig = kpi.trend_chart(df, "tickets", None, "week")
    marked = [t for t in fig.data if "partial week" in (t.name or "")]
    assert marked and marked[0].mode == "markers" and marked[0].marker.symbol == "circle-open"
    assert "partial week" in marked[0].hovertemplate
    assert "partial weeks" in kpi.describe_trend(df, "tickets", None, "week")


def test_card_texts(demo):
    con, _ = demo
    res = kpis.results(con, WEEKS, AS_OF, keys=("mttd", "mtta", "mtbf"))
    c = kpi.card(res["mttd"])
    assert c["status"] in ("met", "missed") and c["icon"].startswith(":material/")
    assert "target ≤ 5.0 min" == c["target"] and "vs previous period" in c["delta"]
    mtta = kpi.card(res["mtta"])
    assert "tickets without an acknowledgement excluded" in mtta["definition"]
    # over the first four weeks, where the demo's outages are: a service failing twice has an MTBF
    first = kpis.results(con, Filters(date_from=MONDAY - timedelta(days=7), date_to=MONDAY + timedelta(days=20)),
                         AS_OF, keys=("mtbf",))
    assert "MTBSI" in kpi.card(first["mtbf"])["footnote"]
    assert kpi.fmt(None, "hours") == "n/a" and kpi.fmt(99.95, "%") == "99.95 %"
    drop = kpis.KpiResult(key="availability", value=92.2, n=3, unit="%", target=99.9,
                          status="missed", previous=100.0, change=-7.8)
    c = kpi.card(drop)  # st.metric reads the arrow from an ASCII "-"
    # Availability is higher-is-better and fell: the text itself says "worse".
    assert c["delta"] == "-7.8 points vs previous period (worse)" and c["delta_colour"] == "normal"
    assert "small sample" in c["footnote"]
    # A change that shows as nothing gets no arrow (no green "+0.00"): the footnote says unchanged.
    still = kpis.KpiResult(key="availability", value=99.95, n=30, unit="%", target=99.9,
                           status="met", previous=99.947, change=0.003)
    c = kpi.card(still)
    assert c["delta"] == "" and "unchanged vs previous period" in c["footnote"]
    moved = kpis.KpiResult(key="mttr", value=15.05, n=30, unit="hours", target=8.0, status="missed",
                           previous=13.0, change=2.05)
    c = kpi.card(moved)
    assert (c["value"], c["delta"]) == ("15 h 03 min", "+2 h 03 min vs previous period (worse)")


# --- pages (AppTest through the router) ----------------------------------------------------


@pytest.fixture
def app_db(demo):
    _, path = demo
    demo[0].execute("CHECKPOINT")
    with app_using(path, demo=True):
        yield path


def _app():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=30)
    return at.run()


def test_overview_shows_kpi_cards_with_values_and_exclusions(app_db, demo):
    con, _ = demo
    at = _app()
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    expected = kpis.results(con, Filters(), AS_OF, keys=("mtta", "mttr"))
    assert shown["MTTA"] == kpi.fmt(expected["mtta"].value, "minutes")
    assert shown["MTTR"] == kpi.fmt(expected["mttr"].value, "hours")
    assert {"Tickets", "Open backlog", "SEV-1 + SEV-2 open"} <= set(shown)
    texts = " ".join(str(c.value) for c in at.caption).replace("\\", "")
    at.session_state["kpi_mtta_definition"] = True  # open MTTA's (lazy) definition popover
    at.run()
    assert "tickets without an acknowledgement excluded" in " ".join(str(m.value) for m in at.markdown)
    # The demo sets its go-live date, so the hypercare view is drawn, over the demo's own window.
    window = engagements.details(None, con).window_days
    assert window != 14 and f"from the go-live date, the first {window} days (the hypercare window" in texts


def test_kpi_trends_page_switches_kpi_grain_and_split(app_db):
    at = _app()
    at.switch_page("pages/kpi_trends.py").run()
    assert not at.exception
    at.selectbox(key="kpi").set_value("mtta")
    at.selectbox(key="grain").set_value("month")
    at.selectbox(key="split").set_value("severity").run()
    at.session_state["chart_kpi_trend_data"] = True  # open the chart's (lazy) data table, as a reader would
    at.run()
    assert not at.exception
    assert any("MTTA per month" in str(c.value) for c in at.caption)


def test_kpi_trends_opens_the_kpi_grain_and_split_of_its_url(app_db):
    """The URL holds the choice like the filters (the KPI by its name, as Streamlit writes a bound
    selectbox); the browser writes it (tests/browser/test_app_browser.py checks the round trip)."""
    at = _app()
    at.query_params.update({"kpi": "MTBF", "grain": "quarter", "split": "service"})
    at.run()
    at.switch_page("pages/kpi_trends.py").run()
    assert not at.exception
    assert (at.selectbox(key="kpi").value, at.selectbox(key="grain").value,
            at.selectbox(key="split").value) == ("mtbf", "quarter", "service")


def test_settings_page_saves_kpi_targets(app_db, demo):
    con, _ = demo
    at = _app()
    at.switch_page("pages/settings.py").run()
    assert not at.exception
    at.text_input(key="set_kpi_target_mttd").set_value("2.5")
    at.text_input(key="set_kpi_target_mtta").set_value("")
    next(b for b in at.button if b.label == "Save KPI targets").click().run()
    assert not at.exception
    check = db.connect(app_db)
    try:
        from analytics.kpi import registry

        targets = registry.targets(check)
    finally:
        check.close()
    for k in registry.KPIS:  # leave the module's store as the other tests expect it
        db.delete_setting(con, k.setting_key)
    db.delete_setting(con, registry.OUTAGE_SETTING)
    assert targets["mttd"] == 2.5 and targets["mtta"] is None and targets["availability"] == 99.9
