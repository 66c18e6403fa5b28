"""Patterns (Paretos, weekday × hour, repeat offenders, root causes, reopens) against pandas,
their charts, and the Recurrence page driven headless."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.charts import recurrence as rc
from analytics.demo.loader import load_demo
from analytics.recurrence import patterns
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from tests.helpers import app_using

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    con = db.connect(tmp_path_factory.mktemp("patterns") / "p.duckdb")
    load_demo(con, n_tickets=1500, actor=local_operator("demo"))
    yield con
    con.close()


@pytest.fixture(scope="module")
def df(store) -> pd.DataFrame:
    return store.execute("SELECT * FROM tickets").df()


@pytest.mark.parametrize("dimension", ["service", "category", "component"])
def test_pareto_by_tickets_matches_pandas(store, df, dimension):
    got = patterns.pareto(store, Filters(), dimension)
    want = df[dimension].fillna(patterns.NONE_LABEL).value_counts()
    assert dict(zip(got["value"], got["tickets"], strict=True)) == want.to_dict()
    assert got["tickets"].is_monotonic_decreasing
    assert got["cumulative_percent"].iloc[-1] == pytest.approx(100.0, abs=0.01)


def test_pareto_by_downtime_matches_pandas(store, df):
    got = patterns.pareto(store, Filters(), "service", "downtime_hours")
    end = df["mitigated_at"].fillna(df["resolved_at"])
    hours = ((end - df["impact_started_at"]).dt.total_seconds() / 3600).clip(lower=0)
    want = hours.groupby(df["service"]).sum()
    for value, h in zip(got["value"], got["downtime_hours"], strict=True):
        assert h == pytest.approx(want[value])
    assert got["downtime_hours"].is_monotonic_decreasing


def test_pareto_rejects_unknown_dimension(store):
    with pytest.raises(ValueError, match="Unknown dimension"):
        patterns.pareto(store, Filters(), "title; DROP TABLE tickets")


def _crafted(con, rows):
    frame = pd.DataFrame([{"ticket_id": f"c:{i}", "source": "c", **r} for i, r in enumerate(rows)])
    cur = con.cursor()
    cur.register("crafted", frame)
    cur.execute("INSERT INTO tickets BY NAME SELECT * FROM crafted")


@pytest.mark.parametrize("tz, weekday, hour", [
    ("UTC", 0, 7),
    ("Europe/Amsterdam", 0, 9),  # CEST, UTC+2 on 30 March 2026 (the day after the DST change)
    ("America/New_York", 0, 3),  # EDT, UTC-4
    ("Asia/Tokyo", 0, 16),
])
def test_weekday_hour_in_a_time_zone(con, tz, weekday, hour):
    _crafted(con, [{"opened_at": datetime(2026, 3, 30, 7, 15)}, {"opened_at": None}])
    grid = patterns.weekday_hour(con, Filters(), tz)
    assert len(grid) == 168 and grid["tickets"].sum() == 1
    hit = grid[grid["tickets"] == 1].iloc[0]
    assert (hit["weekday"], hit["hour"], hit["weekday_name"]) == (weekday, hour, "Mon")


def test_weekday_hour_defaults_to_the_setting_and_refuses_unknown_zones(con):
    _crafted(con, [{"opened_at": datetime(2026, 3, 30, 23, 30)}])
    db.set_setting(con, "default_timezone", "Asia/Tokyo")
    hit = patterns.weekday_hour(con, Filters()).query("tickets == 1").iloc[0]
    assert (hit["weekday_name"], hit["hour"]) == ("Tue", 8)
    with pytest.raises(ValueError, match="Unknown time zone"):
        patterns.weekday_hour(con, Filters(), "Mars/Olympus")


def test_repeat_offenders_top_n_with_zero_weeks(con):
    _crafted(con, [{"service": "A", "opened_at": datetime(2026, 9, 7)},
                   {"service": "A", "opened_at": datetime(2026, 9, 22)},
                   {"service": "B", "opened_at": datetime(2026, 9, 8)},
                   {"service": "C", "opened_at": datetime(2026, 9, 9)},
                   {"service": "C", "opened_at": datetime(2026, 9, 10)},
                   {"service": "C", "opened_at": datetime(2026, 9, 10)}])
    got = patterns.repeat_offenders(con, Filters(), top_n=2)
    assert list(dict.fromkeys(got["service"])) == ["C", "A"]
    a = got[got["service"] == "A"]
    assert [str(w) for w in a["week"]] == ["2026-09-07", "2026-09-14", "2026-09-21"]
    assert a["tickets"].tolist() == [1, 0, 1]


def test_root_causes_and_reopens_match_pandas(store, df):
    causes = patterns.root_causes(store, Filters())
    want = df["root_cause"].fillna(patterns.NOT_RECORDED).value_counts()
    assert dict(zip(causes["root_cause"], causes["tickets"], strict=True)) == want.to_dict()
    assert causes["percent"].sum() == pytest.approx(100, abs=0.5)
    reopens = patterns.reopen_hotspots(store, Filters(), "service")
    grouped = df.assign(r=df["reopen_count"].fillna(0) > 0).groupby("service")
    for value, n, reopened, rate in reopens[["value", "tickets", "reopened", "reopen_rate"]].itertuples(index=False):
        assert n == len(grouped.get_group(value))
        assert reopened == grouped.get_group(value)["r"].sum()
        assert rate == pytest.approx(reopened / n)
    assert reopens["reopened"].is_monotonic_decreasing


def test_filters_apply(store, df):
    only = Filters(service=("Identity",))
    assert patterns.pareto(store, only)["value"].tolist() == ["Identity"]
    assert patterns.weekday_hour(store, only, "UTC")["tickets"].sum() == (df["service"] == "Identity").sum()


def test_charts_have_titles_and_text_alternatives(store):
    f = Filters()
    par = patterns.pareto(store, f, "service", "downtime_hours")
    figs = {
        "pareto": (rc.pareto_chart(par, "service", "downtime_hours"),
                   rc.describe_pareto(par, "service", "downtime_hours")),
        "heatmap": (rc.heatmap_chart(h := patterns.weekday_hour(store, f, "UTC"), "UTC"), rc.describe_heatmap(h, "UTC")),
        "offenders": (rc.offenders_chart(o := patterns.repeat_offenders(store, f)), rc.describe_offenders(o)),
        "causes": (rc.root_cause_chart(c := patterns.root_causes(store, f)), rc.describe_root_causes(c)),
        "reopens": (rc.reopen_chart(r := patterns.reopen_hotspots(store, f), "service"),
                    rc.describe_reopens(r, "service")),
    }
    for name, (fig, text) in figs.items():
        assert fig.layout.title.text, name
        assert len(text) > 30 and "nothing" not in text and "no " not in text[:40], (name, text)
    pareto_fig = figs["pareto"][0]
    assert pareto_fig.data[1].yaxis == "y2" and "markers" in pareto_fig.data[1].mode
    assert figs["heatmap"][0].data[0].texttemplate  # counts printed in the cells
    symbols = {t.marker.symbol for t in figs["offenders"][0].data}
    assert len(symbols) == len(figs["offenders"][0].data)  # not colour alone


def test_describe_empty():
    empty = pd.DataFrame({"value": [], "tickets": [], "downtime_hours": [], "share": [], "cumulative_percent": []})
    assert "nothing" in rc.describe_pareto(empty, "service")


@pytest.fixture
def app_store(tmp_path):
    path = tmp_path / "page.duckdb"
    con = db.connect(path)
    load_demo(con, n_tickets=800, actor=local_operator("demo"))
    con.close()
    with app_using(path, demo=True):
        yield path


@pytest.mark.slow
def test_recurrence_page_threshold_and_drill_down(app_store):
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/recurrence.py").run()
    assert not at.exception, [e.message for e in at.exception]
    metric = {m.label: m.value for m in at.metric}
    strict = int(metric["Recurring clusters"].replace(",", ""))
    assert strict > 0 and int(metric["Problem candidates"].replace(",", "")) > 0
    at.slider(key="rc_threshold").set_value(0.5).run()
    loose = int({m.label: m.value for m in at.metric}["Recurring clusters"].replace(",", ""))
    assert loose < strict  # a lower threshold merges more
    first = at.dataframe[0].value
    at.selectbox(key="rc_cluster").set_value(first["cluster_id"].iloc[0]).run()
    assert not at.exception
    members = at.dataframe[1].value
    assert len(members) == first["tickets"].iloc[0]
    assert "Why grouped" in " ".join(c.value for c in at.caption)
