"""SLA compliance figures, lists and charts, checked against plain pandas on the engine's rows."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from analytics import sla_charts
from analytics import sla_compliance as comp
from analytics.demo_loader import DEMO_POLICY_VERSION, load_demo
from analytics.sla_engine import evaluate
from analytics.sla_timeline import ticket_timeline

AS_OF = datetime(2026, 11, 21, 5, 0)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    from analytics import db
    con = db.connect(tmp_path_factory.mktemp("sla") / "s.duckdb")
    load_demo(con, n_tickets=3000, seed=11)
    yield con, evaluate(con, as_of=AS_OF)
    con.close()


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
    _, f = frame
    assert comp.versions_used(f) == [DEMO_POLICY_VERSION]


def test_compliance_table_matches_pandas(frame):
    _, f = frame
    table = comp.compliance_table(f, 95.0).set_index(["metric", "severity"])
    for metric in comp.METRICS:
        status = f[f"{metric}_status"].astype(str)
        stopped = f[f"{metric}_stopped_at"].notna()
        for sev in ("SEV-1", "SEV-2", "SEV-3", "SEV-4", "All"):
            sel = stopped if sev == "All" else stopped & f["severity"].astype(str).eq(sev)
            met, breached = int((status[sel] == "met").sum()), int((status[sel] == "breached").sum())
            row = table.loc[(metric, sev)]
            assert (row["met"], row["breached"], row["n"]) == (met, breached, met + breached)
            if met + breached:
                assert row["compliance_pct"] == pytest.approx(100 * met / (met + breached), abs=0.01)
                assert row["status"] == ("met" if row["compliance_pct"] >= 95 else "missed")
            open_b = (~stopped) & status.eq("breached") & (True if sev == "All" else f["severity"].astype(str).eq(sev))
            assert row["open_breached"] == int(open_b.sum())


def test_lists_and_trend_are_consistent(frame):
    _, f = frame
    ob = comp.open_breached(f)
    assert len(ob) == int(comp.compliance_table(f).query("severity == 'All'")["open_breached"].sum())
    br = comp.breaches(f)
    assert len(br) == int(comp.compliance_table(f).query("severity == 'All'")["breached"].sum())
    assert (br["business_minutes"] >= br["target_minutes"]).all()  # at the target is breached
    risk = comp.at_risk(f, AS_OF)
    assert set(risk["at_risk_bucket"]) <= {"50–75 %", "75–90 %", "90–100 %", "over 100 %"}
    for grain in ("week", "month"):
        trend = comp.compliance_trend(f, grain)
        for metric in comp.METRICS:
            assert trend[trend["metric"] == metric]["n"].sum() == comp.compliance_table(f).query(
                "metric == @metric and severity == 'All'")["n"].iloc[0]
    with pytest.raises(ValueError):
        comp.compliance_trend(f, "decade")


def test_charts_and_timeline(frame):
    con, f = frame
    table = comp.compliance_table(f)
    fig = sla_charts.compliance_chart(table)
    assert fig.layout.title.text == "SLA compliance by severity" and len(fig.data) == 2
    assert "Overall compliance" in sla_charts.describe_compliance(table)
    view = comp.compliance_view(table)
    assert len(view) == len(table) and view["compliance (95 % range)"].str.contains("%|—").all()
    trend = comp.compliance_trend(f, "week")
    assert len(sla_charts.trend_chart(trend, 95, "week").data) == 2
    assert "Compliance trend" in sla_charts.describe_trend(trend, "week")
    assert "No SLA clock" in sla_charts.describe_trend(trend.iloc[0:0], "week")
    paused = con.execute("SELECT ticket_id FROM status_history WHERE status = 'Awaiting Customer' LIMIT 1").fetchall()[0][0]
    tl = ticket_timeline(con, paused, AS_OF)
    fig = sla_charts.timeline_chart(tl)
    rows = {b.y[0] for b in fig.data if b.type == "bar"}
    assert {"Status", "Paused"} <= rows
    hist = comp.history_table(tl)
    assert hist["pauses_clock"].any() and len(hist) == len(tl["history"])
    summary = comp.clock_summary(tl)
    assert list(summary["clock"]) == ["response", "resolution"]
    assert "status changes" in sla_charts.describe_timeline(tl)


def test_empty_frame_gives_no_data():
    f = pd.DataFrame(columns=["ticket_id", "severity", "type", "status_category", "opened_at", "policy_version",
                              *[f"{m}_{c}" for m in comp.METRICS for c in
                                ("target_minutes", "business_minutes", "calendar_minutes", "status", "breach_at",
                                 "stopped_at", "clock", "reason")],
                              "paused_minutes", "consumed_pct", "at_risk_bucket", "breach_at",
                              "escalate_next_tier", "escalate_incident_lead"])
    table = comp.compliance_table(f)
    assert set(table["status"]) == {"no data"} and table["n"].sum() == 0
    assert comp.compliance_trend(f).empty
    assert "No SLA clock has stopped" in sla_charts.describe_compliance(table.iloc[0:0])
