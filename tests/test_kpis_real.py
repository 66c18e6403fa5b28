"""KPIs on the real exports (ServiceNow event log, Italian help desk, GitHub Statuspage),
each checked against an independent plain-pandas computation. Skipped without the files."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics import db, kpis
from analytics.filters import Filters
from analytics.ingest import ingest_file

from test_kpis import _sweep_downtime

AS_OF = datetime(2026, 11, 23)
FILES = {
    "servicenow": "servicenow-incident-event-log/incident_event_log.csv.gz",
    "helpdesk": "helpdesk-italian/helpdesk_finale.csv.gz",
    "statuspage": "github-status-incidents/githubstatus_incidents.csv.gz",
}


@pytest.fixture(scope="module", params=list(FILES))
def store(request, real_data, tmp_path_factory):
    path = real_data / FILES[request.param]
    if not path.exists():
        pytest.skip(f"{path} not found")
    con = db.connect(tmp_path_factory.mktemp(request.param) / "real.duckdb")
    ingest_file(con, path)
    tickets = con.execute("SELECT * FROM tickets").df()
    yield request.param, con, tickets
    con.close()


def _period(t: pd.DataFrame) -> tuple[datetime, datetime]:
    lo = datetime.combine(t["opened_at"].min().date(), time.min)
    hi = datetime.combine(t["opened_at"].max().date() + timedelta(days=1), time.min)
    return lo, min(hi, AS_OF)


def test_durations_and_rates(store):
    name, con, t = store
    got = kpis.results(con, Filters(), AS_OF, previous=False)
    start, end = _period(t)
    live = t[t["status_category"] != "cancelled"]
    assert got["tickets"].value == len(t)

    ack = live[live["acknowledged_at"].notna() & (live["acknowledged_at"] >= live["opened_at"])]
    minutes = (ack["acknowledged_at"] - ack["opened_at"]).dt.total_seconds() / 60
    if len(minutes):
        assert got["mtta"].value == pytest.approx(minutes.mean())
        assert got["mtta"].stats["median"] == pytest.approx(minutes.median())
    else:  # Statuspage records no acknowledgement
        assert got["mtta"].value is None
        assert dict(got["mtta"].excluded)["tickets without an acknowledgement"] == len(live)

    res = live[(live["resolved_at"] >= start) & (live["resolved_at"] < end)]
    zero = int((res["resolved_at"] == res["opened_at"]).sum())
    res = res[res["resolved_at"] > res["opened_at"]]
    hours = (res["resolved_at"] - res["opened_at"]).dt.total_seconds() / 3600
    assert got["mttr"].n == len(hours)
    assert got["mttr"].value == pytest.approx(hours.mean())
    assert got["mttr"].stats["median"] == pytest.approx(hours.median())
    assert got["mttr"].stats["p90"] == pytest.approx(np.quantile(hours, 0.9))
    label = next(lab for lab, _ in [*got["mttr"].excluded, ("zero duration", 0)] if "zero duration" in lab)
    assert dict(got["mttr"].excluded).get(label, 0) == zero
    if name == "statuspage":
        assert zero == 839  # the legacy bulk import: created = started = resolved

    closed = t[(t["resolved_at"] >= start) & (t["resolved_at"] < end)
               & t["status_category"].isin(["resolved", "closed"]) & t["reopen_count"].notna()]
    if len(closed):
        assert got["reopen_rate"].value == pytest.approx(100 * (closed["reopen_count"] > 0).mean())
    else:
        assert got["reopen_rate"].value is None and "reopen count" in got["reopen_rate"].reason


def test_mttd_is_measured_only_with_an_impact_start(store):
    name, con, t = store
    got = kpis.results(con, Filters(), AS_OF, keys=("mttd",), previous=False)["mttd"]
    if t["impact_started_at"].isna().all():
        assert got.value is None and got.status == "not measurable"
        assert "MTTD needs an impact-start column" in got.reason
        return
    live = t[(t["status_category"] != "cancelled") & t["impact_started_at"].notna()
             & t["detected_at"].notna()]
    legacy = (live["impact_started_at"] == live["detected_at"]) & (live["detected_at"] == live["resolved_at"])
    ok = live[~legacy & (live["detected_at"] >= live["impact_started_at"])]
    minutes = (ok["detected_at"] - ok["impact_started_at"]).dt.total_seconds() / 60
    assert got.n == len(ok) and got.value == pytest.approx(minutes.mean())
    assert dict(got.excluded)[next(lab for lab, _ in got.excluded if "bulk-imported" in lab)] == int(legacy.sum())


def test_availability_per_service(store):
    name, con, t = store
    got = kpis.results(con, Filters(), AS_OF, keys=("availability", "mtbf"), previous=False)
    start, end = _period(t)
    o = t[t["severity"].isin(["SEV-1", "SEV-2"]) & (t["status_category"] != "cancelled")]
    s = o["impact_started_at"].fillna(o["opened_at"])
    e = o["mitigated_at"].fillna(o["resolved_at"])
    e = e.where(o["status_category"] != "open", e.fillna(pd.Timestamp(AS_OF)))
    w = pd.DataFrame({"service": o["service"].fillna("(no service)"), "s": s, "e": e}).dropna()
    w = w[(w["e"] > w["s"]) & (w["s"] < end) & (w["e"] >= start)]
    hours = (end - start).total_seconds() / 3600
    expected = {svc: 100 * (1 - _sweep_downtime(ws, start, end)[0] / hours)
                for svc, ws in w.groupby("service")}
    shown = {r["service"]: r["availability_pct"] for r in got["availability"].extra["services"]}
    assert shown.keys() == expected.keys()
    for svc, value in expected.items():
        assert shown[svc] == pytest.approx(value)
    assert got["availability"].value == pytest.approx(min(expected.values()))
