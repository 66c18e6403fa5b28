"""Vendor importers round-trip: demo tickets rendered as each vendor's export load back equal.

The generator's own values are the reference; each rendering goes through auto-detection,
the vendor's time format and zone, and its severity vocabulary.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from analytics.demo import generator
from analytics.demo.formats import to_jira_csv, to_pagerduty_csv, to_servicenow_list
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.stage import inspect_file
from analytics.store.auth import local_operator


@pytest.fixture(scope="module")
def tickets() -> pd.DataFrame:
    t, _ = generator.generate(1500, seed=7)
    return t


def _csv(frame: pd.DataFrame, **kw) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, **kw)
    return buf.getvalue().encode("utf-8")


def _loaded(con, source: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM tickets WHERE source = ? ORDER BY external_id", [source]).df()


def test_servicenow_incident_list_round_trip(con, tickets):
    export = to_servicenow_list(tickets, tz="Europe/London")
    r = ingest_file(con, data=_csv(export), name="incident.csv", tz="Europe/London",
                    uploaded_by=local_operator("local"))
    assert r.profile_name == "servicenow-incident-list" and r.source == "servicenow"
    assert (r.rows_read, r.rows_rejected, r.tickets_inserted) == (len(export), 0, len(export))
    got = _loaded(con, "servicenow").set_index("external_id")
    want = tickets.assign(external_id=export["number"].values).set_index("external_id").loc[got.index]
    assert (got["severity"] == want["severity"]).all()
    # A wall-clock time in the hour that repeats when DST ends names two instants; a naive
    # export cannot say which, so those are left out of the exact comparison.
    local = want["opened_at"].dt.tz_localize("UTC").dt.tz_convert("Europe/London").dt.tz_localize(None)
    clear = local.dt.tz_localize("Europe/London", ambiguous="NaT", nonexistent="NaT").notna()
    assert clear.sum() >= len(want) - 5
    assert (got["opened_at"][clear].values == want["opened_at"][clear].dt.floor("s").values).all()
    resolved = want["resolved_at"].notna()
    r_local = want["resolved_at"].dt.tz_localize("UTC").dt.tz_convert("Europe/London").dt.tz_localize(None)
    resolved &= r_local.dt.tz_localize("Europe/London", ambiguous="NaT", nonexistent="NaT").notna()
    assert (got["resolved_at"][resolved].values == want["resolved_at"][resolved].dt.floor("s").values).all()
    assert (got["title"] == want["title"]).all()


def test_jira_csv_round_trip(con, tickets):
    export = to_jira_csv(tickets, tz="UTC")
    r = ingest_file(con, data=_csv(export), name="jira.csv", uploaded_by=local_operator("local"))
    assert r.profile_name == "jira-csv"
    assert (r.rows_rejected, r.tickets_inserted) == (0, len(export))
    insp = inspect_file(con, data=_csv(export), name="jira.csv")
    created = next(t for t in insp.timestamps if t.field == "opened_at")
    assert created.format == "%d/%b/%y %I:%M %p"
    got = _loaded(con, "jira").set_index("external_id")
    want = tickets.assign(external_id=export["Issue key"].values).set_index("external_id").loc[got.index]
    assert (got["opened_at"].values == want["opened_at"].dt.floor("min").values).all()
    assert set(got["type"]) <= {"incident", "defect", "enhancement", "question", "service_request"}
    assert got["severity"].notna().all()


def test_pagerduty_round_trip(con, tickets):
    export = to_pagerduty_csv(tickets)
    r = ingest_file(con, data=_csv(export), name="incidents.csv", uploaded_by=local_operator("local"))
    assert r.profile_name == "pagerduty-incidents"
    assert (r.rows_rejected, r.tickets_inserted) == (0, len(export))
    got = _loaded(con, "pagerduty").set_index("external_id")
    incidents = tickets[tickets["type"] == "incident"]
    want = incidents.assign(external_id=export["incident_number"].astype(str).values).set_index("external_id")
    want = want.loc[got.index]
    # Offsets such as -04:00 are converted back to UTC exactly.
    assert (got["opened_at"].values == want["opened_at"].dt.floor("s").values).all()
    acked = want["acknowledged_at"].notna()
    assert (got["acknowledged_at"][acked].values == want["acknowledged_at"][acked].dt.floor("s").values).all()
    with_priority = export.set_index(export["incident_number"].astype(str))["priority"].notna().loc[got.index]
    assert (got["severity"][with_priority] == want["severity"][with_priority]).all()


def test_uploading_the_same_tickets_in_another_shape_upserts(con, tickets):
    export = to_servicenow_list(tickets)
    ingest_file(con, data=_csv(export), name="a.csv", uploaded_by=local_operator("local"))
    again = ingest_file(con, data=_csv(export, sep=";"), name="a-semicolon.csv", uploaded_by=local_operator("local"))
    assert (again.tickets_inserted, again.tickets_updated, again.tickets_unchanged) == (0, 0, len(export))


def test_demo_csvs_load_with_history(con, tmp_path):
    t_csv, h_csv = generator.write_csvs(tmp_path, 800, seed=3)
    tickets_result = ingest_file(con, t_csv, uploaded_by=local_operator("local"))
    history_result = ingest_file(con, h_csv, uploaded_by=local_operator("local"))
    assert tickets_result.profile_name == "hypercare-tickets"
    assert history_result.profile_name == "hypercare-history"
    assert tickets_result.tickets_inserted == 800 and history_result.rows_rejected == 0
    frame, hist = generator.generate(800, seed=3)
    got = con.execute("SELECT external_id, severity, status_category, opened_at FROM tickets ORDER BY 1").df()
    want = frame.sort_values("external_id").reset_index(drop=True)
    assert (got["severity"].values == want["severity"].values).all()
    assert (got["status_category"].values == want["status_category"].values).all()
    assert (got["opened_at"].values == want["opened_at"].dt.floor("s").values).all()
    assert con.execute("SELECT count(*) FROM status_history").fetchall()[0][0] == len(hist)
