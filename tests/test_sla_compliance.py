"""SLA compliance figures, lists and charts, checked against plain pandas on the engine's rows."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from analytics.charts import sla
from analytics.demo.loader import DEMO_POLICY_VERSION, load_demo
from analytics.kpi.facts import period_of
from analytics.sla import compliance as comp
from analytics.sla.definitions import SLA_SMALL_N
from analytics.sla.engine import evaluate
from analytics.sla.timeline import ticket_timeline
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

AS_OF = datetime(2026, 11, 21, 5, 0)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    from analytics.store import db
    con = db.connect(tmp_path_factory.mktemp("sla") / "s.duckdb")
    load_demo(con, n_tickets=3000, seed=11, actor=local_operator("demo"))
    yield con, evaluate(con, as_of=AS_OF)
    con.close()


def _table(con, start=None, end=None):
    f = Filters(date_from=start, date_to=end)
    period = period_of(con, f, AS_OF)
    return comp.compliance_table(comp.counts(con, f, period, split="severity"), 95.0), period


@pytest.mark.parametrize("met,n,low,high", [
    (0, 0, None, None), (10, 10, 72.25, 100.0), (0, 10, 0.0, 27.75), (95, 100, 88.82, 97.85), (1, 2, 9.45, 90.55),
])
def test_wilson_interval_matches_published_values(met, n, low, high):
    got = comp.wilson(met, n)
    if low is None:
        assert got == (None, None)
    else:
        assert got[0] == pytest.approx(low, abs=0.01) and got[1] == pytest.approx(high, abs=0.01)


def test_demo_gets_its_own_named_policy(frame):
    con, _ = frame
    assert comp.versions_used(con, Filters(), period_of(con, Filters(), AS_OF)) == [DEMO_POLICY_VERSION]


# The go-live fortnight, when the team had not settled: clocks still open past their target at its end.
@pytest.mark.parametrize("days", [(None, None), (date(2026, 9, 7), date(2026, 9, 20))], ids=["span", "fortnight"])
def test_compliance_table_matches_pandas(frame, days):
    """Per severity: the clocks that stopped in the period (whenever opened), open and breached
    at its end, the not-applicable clocks of tickets opened in it — counted on the engine's rows."""
    con, f = frame
    table, period = _table(con, *days)
    table = table.set_index(["metric", "severity"])
    te = min(period.end, AS_OF)
    opened = (f["opened_at"] >= period.start) & (f["opened_at"] < period.end)
    for metric in comp.METRICS:
        status = f[f"{metric}_status"].astype(str)
        stop, breach = f[f"{metric}_stopped_at"], f[f"{metric}_breach_at"]
        stopped = (stop >= period.start) & (stop < period.end)
        for sev in ("SEV-1", "SEV-2", "SEV-3", "SEV-4", "All"):
            of_sev = True if sev == "All" else f["severity"].astype(str).eq(sev)
            met = int((stopped & of_sev & (status == "met")).sum())
            breached = int((stopped & of_sev & (status == "breached")).sum())
            row = table.loc[(metric, sev)]
            assert (row["met"], row["breached"], row["n"]) == (met, breached, met + breached)
            if met + breached:
                assert row["compliance_pct"] == pytest.approx(100 * met / (met + breached), abs=0.01)
                assert row["status"] == ("met" if row["compliance_pct"] >= 95 else "missed")
                assert row["small_sample"] == (met + breached < SLA_SMALL_N)
            open_b = status.isin(["breached", "running"]) & (stop.isna() | (stop >= te)) & (breach < te) & of_sev
            assert row["open_breached"] == int(open_b.sum())
            assert row["not_applicable"] == int((opened & of_sev & (status == "not applicable")).sum())
    assert table.xs("All", level="severity")["open_breached"].sum() > 0


def test_lists_and_trend_are_consistent(frame):
    con, f = frame
    start, end = date(2026, 10, 1), date(2026, 10, 31)
    table, period = _table(con, start, end)
    every = table.query("severity == 'All'")
    ob = comp.open_breached(f, period.observed_end)
    assert len(ob) == int(every["open_breached"].sum())
    br = comp.breaches(f, period.start, period.end)
    assert len(br) == int(every["breached"].sum())
    assert (br["business_minutes"] >= br["target_minutes"]).all()  # at the target is breached
    risk = comp.at_risk(f, AS_OF)
    assert set(risk["at_risk_bucket"]) <= {"50–75 %", "75–90 %", "90–100 %", "over 100 %"}
    for grain in ("week", "month"):
        trend = comp.compliance_trend(comp.counts(con, Filters(date_from=start, date_to=end), period, grain=grain))
        for metric in comp.METRICS:
            assert trend[trend["metric"] == metric]["n"].sum() == every.query("metric == @metric")["n"].iloc[0]


def test_frame_selections_are_the_counted_cohort(frame):
    """in_cohort / open_breached_at (the lists) select exactly what counts() counts."""
    con, f = frame
    table, period = _table(con, date(2026, 9, 21), date(2026, 10, 4))
    for metric in comp.METRICS:
        row = table.set_index(["metric", "severity"]).loc[(metric, "All")]
        assert int(comp.in_cohort(f, metric, period.start, period.end).sum()) == row["n"]
        assert int(comp.open_breached_at(f, metric, period.observed_end).sum()) == row["open_breached"]


def test_charts_and_timeline(frame):
    con, f = frame
    table, period = _table(con)
    fig = sla.compliance_chart(table)
    assert fig.layout.title.text == "SLA compliance by severity" and len(fig.data) == 2
    # One row per severity, SEV-1 on top, each bar's label in its own row (issue #15: labels overlapped)
    assert all(b.orientation == "h" for b in fig.data) and list(fig.data[0].y)[-1] == "SEV-1"
    assert [a.text for a in fig.layout.annotations] == ["target 95 %"]
    nothing = table.assign(compliance_pct=None)
    empty = sla.compliance_chart(nothing)
    assert len(empty.data) == 0 and "No SLA clock has stopped" in empty.layout.annotations[0].text
    assert "Overall compliance" in sla.describe_compliance(table)
    view = comp.compliance_view(table)
    assert len(view) == len(table) and view["compliance (95 % range)"].str.contains("%|—").all()
    trend = comp.compliance_trend(comp.counts(con, Filters(), period, grain="week"))
    assert len(sla.trend_chart(trend, 95, "week").data) == 2
    assert "Compliance trend" in sla.describe_trend(trend, "week")
    assert "No SLA clock" in sla.describe_trend(trend.iloc[0:0], "week")
    paused = con.execute("SELECT ticket_id FROM status_history WHERE status = 'Awaiting Customer' LIMIT 1").fetchall()[0][0]
    tl = ticket_timeline(con, paused, AS_OF)
    fig = sla.timeline_chart(tl)
    rows = {b.y[0] for b in fig.data if b.type == "bar"}
    assert {"Status", "Paused"} <= rows
    hist = comp.history_table(tl)
    assert hist["pauses_clock"].any() and len(hist) == len(tl["history"])
    summary = comp.clock_summary(tl)
    assert list(summary["clock"]) == ["response", "resolution"]
    assert "status changes" in sla.describe_timeline(tl)


def test_no_clock_gives_no_data():
    table = comp.compliance_table(pd.DataFrame(columns=comp.COUNT_COLUMNS))
    assert set(table["status"]) == {"no data"} and table["n"].sum() == 0
    assert comp.compliance_trend(pd.DataFrame(columns=comp.COUNT_COLUMNS)).empty
    assert "No SLA clock has stopped" in sla.describe_compliance(table.iloc[0:0])


@pytest.mark.parametrize("as_of", [AS_OF, datetime(2026, 10, 10, 7, 30)])
def test_numpy_and_sql_counts_agree(frame, as_of):
    """The cards' numpy path (no split, one or two windows) counts the same clocks as the SQL."""
    con, _ = frame
    for f in (Filters(), Filters(severity=("SEV-2",)), Filters(date_from=date(2026, 9, 14), date_to=date(2026, 10, 27)),
              Filters(team=("Service Desk",), status=("open",)), Filters(service=("no such service",))):
        period = period_of(con, f, as_of)
        for grain in (None, "compare"):
            fast = comp._counts_numpy(con, f, period, grain)
            slow = comp._counts_sql(con, f, period, grain, None)
            key = ["bucket", "metric"]
            cols = ["met", "breached", "open_breached", "not_applicable"]
            a = fast.astype({"bucket": str}).sort_values(key).reset_index(drop=True)
            b = slow.astype({"bucket": str}).sort_values(key).reset_index(drop=True)
            assert a[key].equals(b[key]) and (a[cols].to_numpy() == b[cols].to_numpy()).all(), (f, grain)


def test_a_severity_without_a_target_says_so_not_no_data():
    """Issue #15: "no target set" (the policy sets none) and "no data" (no clock stopped) differ."""
    from analytics.sla import policy as sla_policy

    policy = sla_policy.Policy(version="t", targets=[
        sla_policy.Target(severity=s, metric=m, minutes=60) for s in ("SEV-1", "SEV-2", "SEV-3")
        for m in ("response", "resolution")] + [sla_policy.Target(severity="SEV-4", metric="response", minutes=60)])
    assert sla_policy.untargeted(policy) == {("resolution", "SEV-4")}
    counted = pd.DataFrame([{"metric": m, "bucket": None, "grp": s, "met": 0 if s in ("SEV-3", "SEV-4") else 9,
                             "breached": 0 if s in ("SEV-3", "SEV-4") else 1, "open_breached": 0,
                             "not_applicable": 5 if (m, s) == ("resolution", "SEV-4") else 0}
                            for m in ("response", "resolution") for s in ("SEV-1", "SEV-2", "SEV-3", "SEV-4")])
    table = comp.compliance_table(counted, 95.0, sla_policy.untargeted(policy)).set_index(["metric", "severity"])
    assert table.loc[("resolution", "SEV-4"), "status"] == comp.NO_TARGET == "no target set"
    assert table.loc[("resolution", "SEV-3"), "status"] == comp.NO_DATA  # a target, but no clock stopped
    assert table.loc[("response", "SEV-1"), "status"] == "missed"
    fig = sla.compliance_chart(table.reset_index())
    labels = [t for trace in fig.data for t in trace.text]
    assert "no target set" in labels and "no data" in labels and "90.0 % missed" in labels
