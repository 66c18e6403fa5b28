"""KPIs on the real exports (ServiceNow event log, Italian help desk, GitHub Statuspage),
each checked against an independent plain-pandas computation. Skipped without the files."""

from __future__ import annotations

import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_kpis import _sweep_downtime

from analytics.ingest.pipeline import ingest_file
from analytics.kpi import facts, kpis, registry
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

AS_OF = datetime(2026, 11, 23)
PROFILES = Path(__file__).resolve().parents[1] / "analytics" / "ingest" / "builtin_profiles"
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
    ingest_file(con, path, uploaded_by=local_operator("local"))
    tickets = con.execute("SELECT * FROM tickets").df()
    tickets.attrs["last_event"] = _last_event(con, tickets)
    yield request.param, con, tickets
    con.close()


EVENTS = ["opened_at", "impact_started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
          "closed_at"]


def _last_event(con, t: pd.DataFrame) -> pd.Timestamp:
    history = con.execute("SELECT max(event_time) FROM status_history").fetchall()[0][0]
    return max(v for v in [t[EVENTS].max().max(), history] if v is not None and not pd.isna(v))


def _period(t: pd.DataFrame) -> tuple[datetime, datetime]:
    """The default period spans the data: the first to the day after the last event of any kind."""
    lo = datetime.combine(t[EVENTS].min().min().date(), time.min)
    hi = datetime.combine(t.attrs["last_event"].date() + timedelta(days=1), time.min)
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


def _profile_says_outages(con) -> bool:
    """The [source] describes_outages of the built-in profile the export was loaded with, read
    from its TOML file (not from the store)."""
    (name,) = {r[0] for r in con.execute("SELECT profile_name FROM datasets").fetchall()}
    with open(PROFILES / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)["source"]["describes_outages"]


def test_availability_only_where_the_source_describes_outages(store):
    """No real export is Hypercare's own: availability and MTBF are measured only where the
    source's profile says its SEV-1/SEV-2 tickets are outages (datasets.describes_outages: the
    Statuspage incidents say so; ServiceNow incidents do not (ServiceNow keeps outages in its
    Outage table), nor do the Italian help desk's software support tickets); elsewhere they are
    not measurable, and say why."""
    name, con, t = store
    says = _profile_says_outages(con)
    assert says == (name == "statuspage")
    assert con.execute("SELECT bool_and(describes_outages) FROM datasets").fetchall()[0][0] is says
    got = kpis.results(con, Filters(), AS_OF, keys=("availability", "mtbf"), previous=False)
    not_outages = f"{t['source'].iloc[0]} does not describe service outages"
    if not says:
        for key in ("availability", "mtbf"):
            assert got[key].value is None and got[key].status == "not measurable"
            assert not_outages in got[key].reason
        return
    # Measured: every service of the export is in scope, no incident is left out for its source.
    assert got["availability"].value is not None and got["availability"].status != "not measurable"
    assert got["availability"].extra["services_in_scope"] == t["service"].fillna("(no service)").nunique()
    for key in ("availability", "mtbf"):
        assert registry.OUTAGE_EXCLUSIONS[0].label not in dict(got[key].excluded)
        assert not_outages not in (got[key].reason or "")


def test_availability_over_all_services(store):
    """With the source marked as describing outages (as the ingest does from its profile; the
    help desk's is set here for the test): the headline is 1 − total outage time / (services ×
    period), the lowest service beside it, and an incident still open never runs past the end of
    the data."""
    name, con, t = store
    before = con.execute("SELECT dataset_id, describes_outages FROM datasets").fetchall()
    con.execute("UPDATE datasets SET describes_outages = true")
    facts.clear()  # not an upload: forget the facts built before the change
    try:
        got = kpis.results(con, Filters(), AS_OF, keys=("availability", "mtbf"), previous=False)
    finally:
        con.executemany("UPDATE datasets SET describes_outages = ? WHERE dataset_id = ?",
                        [[says, dataset_id] for dataset_id, says in before])
        facts.clear()
    start, end = _period(t)
    data_end = t.attrs["last_event"]
    o = t[t["severity"].isin(["SEV-1", "SEV-2"]) & (t["status_category"] != "cancelled")
          & (t["type"].fillna("incident") == "incident")]
    s = o["impact_started_at"].fillna(o["opened_at"])
    e = o["mitigated_at"].fillna(o["resolved_at"])
    e = e.where(o["status_category"] != "open", e.fillna(data_end))
    w = pd.DataFrame({"service": o["service"].fillna("(no service)"), "s": s, "e": e}).dropna()
    w = w[(w["e"] > w["s"]) & (w["s"] < end) & (w["e"] >= start)]
    observed_end = min(end, data_end)
    hours = (observed_end - start).total_seconds() / 3600
    down = {svc: _sweep_downtime(ws, start, observed_end)[0] for svc, ws in w.groupby("service")}
    shown = {r["service"]: r["availability_pct"] for r in got["availability"].extra["services"]}
    assert shown.keys() == down.keys()
    for svc, d in down.items():
        assert shown[svc] == pytest.approx(100 * (1 - d / hours))
    services = t["service"].fillna("(no service)").nunique()
    assert got["availability"].value == pytest.approx(100 * (1 - sum(down.values()) / (services * hours)))
    if down:
        assert got["availability"].extra["lowest_value"] == pytest.approx(min(shown.values()))
        assert got["availability"].value >= got["availability"].extra["lowest_value"]
