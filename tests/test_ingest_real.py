"""Every real export in ../shared/data/real loads, checked against plain pandas on the same file.

The expected values are computed here from the source files, independently of the SQL pipeline.
These tests skip (with the reason) when the real exports are absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.ingest.normalise import severity
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.stage import inspect_file
from analytics.store import db
from analytics.store.auth import local_operator

REPO = Path(__file__).resolve().parent.parent

FILES = {
    "servicenow": ("servicenow-incident-event-log/incident_event_log.csv.gz", "servicenow-event-log"),
    "jira": ("jira-public-dataset-subset/jira_issues_timeestimate_subset.csv.gz", "jira-public-dataset"),
    "statuspage": ("github-status-incidents/githubstatus_incidents.csv.gz", "statuspage-incidents"),
    "volvo": ("bpi2013-volvo-incidents/VINST_incidents_ibm.csv.gz", "volvo-vinst"),
    "helpdesk": ("helpdesk-italian/helpdesk_finale.csv.gz", "helpdesk-italian"),
    "rabobank": ("bpi2014-rabobank-partial/BPIC14_incident_case_attributes_sample.csv.gz", "rabobank-bpic14"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory, real_data):
    """One store with every real export loaded through auto-detection."""
    con = db.connect(tmp_path_factory.mktemp("real") / "real.duckdb")
    local = local_operator("local")
    results = {key: ingest_file(con, real_data / rel, uploaded_by=local) for key, (rel, _) in FILES.items()}
    results["statuspage-updates"] = ingest_file(
        con, real_data / "github-status-incidents/githubstatus_incident_updates.csv.gz",
        uploaded_by=local_operator("local"))
    yield con, results
    con.close()


def _read(real_data, key, **kw) -> pd.DataFrame:
    return pd.read_csv(real_data / FILES[key][0], dtype=str, keep_default_na=False, **kw)


@pytest.mark.parametrize("key", list(FILES))
def test_detected_profile_and_reconciled_counts(store, key):
    _, results = store
    r = results[key]
    assert r.profile_name == FILES[key][1]
    assert r.rows_read == r.rows_loaded + r.rows_rejected


@pytest.mark.parametrize("key,id_cols", [
    ("servicenow", ["number"]), ("jira", ["repo_name", "id"]), ("statuspage", ["id"]),
    ("volvo", ["SR Number"]), ("helpdesk", ["Case ID"]), ("rabobank", ["incident_id"]),
])
def test_ticket_count_equals_distinct_source_ids(store, real_data, key, id_cols):
    con, results = store
    frame = _read(real_data, key, encoding="utf-8-sig")
    expected = len(frame[id_cols].drop_duplicates())
    source = results[key].source
    assert con.execute("SELECT count(*) FROM tickets WHERE source = ?", [source]).fetchall()[0][0] == expected
    assert results[key].tickets_inserted == expected
    assert results[key].rows_rejected == 0


def test_servicenow_day_first_dates_and_reported_resolution(store, real_data):
    con, _ = store
    frame = _read(real_data, "servicenow")
    last = frame.groupby("number").tail(1).set_index("number")
    opened = pd.to_datetime(last["opened_at"], format="%d/%m/%Y %H:%M")
    resolved = pd.to_datetime(last["resolved_at"].replace("?", None), format="%d/%m/%Y %H:%M")
    got = con.execute("SELECT external_id, opened_at, resolved_at_reported FROM tickets WHERE source = 'servicenow'").df()
    got = got.set_index("external_id").loc[last.index]
    assert (got["opened_at"].values == opened.values).all()
    # The export's own resolved_at is kept as it was; tickets.resolved_at comes from the history
    # (test_servicenow_resolution_is_the_first_entry_into_the_final_stretch).
    assert got["resolved_at_reported"].isna().sum() == resolved.isna().sum() == 1556
    both = resolved.notna()
    assert (got["resolved_at_reported"][both].values == resolved[both].values).all()
    # 5/3/2016 is the 5th of March, never the 3rd of May.
    assert con.execute("SELECT opened_at FROM tickets WHERE ticket_id = 'servicenow:INC0000045'").fetchall()[0][0] \
        .isoformat() == "2016-02-29T01:16:00"


def test_servicenow_acknowledged_is_first_active_event(store, real_data):
    con, _ = store
    frame = _read(real_data, "servicenow")
    frame["t"] = pd.to_datetime(frame["sys_updated_at"], format="%d/%m/%Y %H:%M")
    frame["seq"] = frame["sys_mod_count"].astype(int)
    active = frame[frame["incident_state"] == "Active"].sort_values(["number", "t", "seq"])
    expected = active.groupby("number")["t"].min()
    got = con.execute("SELECT external_id, acknowledged_at FROM tickets WHERE source='servicenow' "
                      "AND acknowledged_at IS NOT NULL").df().set_index("external_id")["acknowledged_at"]
    assert len(got) == len(expected)
    assert (got.loc[expected.index].values == expected.values).all()


def test_servicenow_history_and_pause_states(store):
    con, _ = store
    n = con.execute("SELECT count(*) FROM status_history h JOIN tickets t USING (ticket_id) "
                    "WHERE t.source = 'servicenow'").fetchall()[0][0]
    assert n == 141_712
    awaiting = con.execute("SELECT count(DISTINCT status) FROM status_history WHERE status LIKE 'Awaiting%'").fetchall()
    assert awaiting[0][0] == 4


def test_jira_unmapped_severities_are_all_reported(store, real_data):
    con, results = store
    frame = _read(real_data, "jira")
    raw = frame["priority"].str.strip()
    unmapped = raw[(raw != "") & raw.map(lambda v: severity(v) is None)].value_counts().to_dict()
    assert results["jira"].unmapped_severities == unmapped
    for word in ("Not a Priority", "Unset", "Not Evaluated", "Unprioritized"):
        assert word in unmapped
    assert con.execute("SELECT count(*) FROM tickets WHERE source='jira' AND severity IS NULL AND priority_raw IS NOT NULL"
                       ).fetchall()[0][0] == sum(unmapped.values())


def test_jira_offsets_are_converted_to_utc(store, real_data):
    con, _ = store
    frame = _read(real_data, "jira")
    created = pd.to_datetime(frame["created"], format="%Y-%m-%dT%H:%M:%S.%f%z", utc=True).dt.tz_localize(None)
    expected = dict(zip(frame["repo_name"] + "-" + frame["id"], created))
    got = dict(con.execute("SELECT external_id, opened_at FROM tickets WHERE source = 'jira'").fetchall())
    assert all(pd.Timestamp(got[k]) == v for k, v in expected.items())


def test_statuspage_updates_attach_as_history(store, real_data):
    con, results = store
    r = results["statuspage-updates"]
    assert (r.profile_name, r.rows_read, r.rows_rejected) == ("statuspage-updates", 2801, 0)
    assert con.execute("SELECT count(*) FROM status_history WHERE ticket_id LIKE 'statuspage:%'").fetchall()[0][0] == 2801
    sev = dict(con.execute("SELECT severity, count(*) FROM tickets WHERE source='statuspage' GROUP BY 1").fetchall())
    frame = _read(real_data, "statuspage")
    counts = frame["impact"].value_counts()
    assert sev == {"SEV-1": counts["critical"], "SEV-2": counts["major"], "SEV-3": counts["minor"], "SEV-4": counts["none"]}


def test_helpdesk_event_rules_match_pandas(store, real_data):
    con, _ = store
    frame = _read(real_data, "helpdesk")
    frame["t"] = pd.to_datetime(frame["Complete Timestamp"], format="%Y/%m/%d %H:%M:%S.%f")
    ack = frame[frame["Activity"] == "Take in charge ticket"].groupby("Case ID")["t"].min()
    ack_utc = ack.dt.tz_localize("Europe/Rome").dt.tz_convert("UTC").dt.tz_localize(None)
    got = con.execute("SELECT external_id, acknowledged_at FROM tickets WHERE source='helpdesk-italian' "
                      "AND acknowledged_at IS NOT NULL").df().set_index("external_id")["acknowledged_at"]
    assert len(got) == len(ack_utc)
    assert (got.loc[ack_utc.index].values == ack_utc.values).all()
    never_resolved = frame.groupby("Case ID")["Activity"].apply(lambda s: "Resolve ticket" not in set(s)
                                                                and "RESOLVED" not in set(s)).sum()
    assert con.execute("SELECT count(*) FROM tickets WHERE source='helpdesk-italian' AND resolved_at IS NULL"
                       ).fetchall()[0][0] >= never_resolved


def test_volvo_history_and_tiers(store, real_data):
    con, _ = store
    assert con.execute("SELECT count(*) FROM status_history h WHERE ticket_id LIKE 'volvo-vinst:%'").fetchall()[0][0] == 65_533
    tiers = {r[0] for r in con.execute("SELECT DISTINCT tier FROM status_history WHERE ticket_id LIKE 'volvo-vinst:%'").fetchall()}
    assert {"L1", "L2", "L3"} <= tiers


def test_reupload_of_a_real_export_changes_nothing(store, real_data):
    con, results = store
    again = ingest_file(con, real_data / FILES["helpdesk"][0], uploaded_by=local_operator("local"))
    first = results["helpdesk"]
    assert (again.tickets_inserted, again.tickets_updated, again.tickets_unchanged) == (0, 0, first.tickets_inserted)
    assert again.duplicate_of == first.dataset_id


def test_inspection_of_real_files_names_the_source(tmp_path, real_data):
    con = db.connect(tmp_path / "i.duckdb")
    insp = inspect_file(con, real_data / FILES["servicenow"][0])
    assert insp.detections[0].profile_name == "servicenow-event-log"
    assert insp.detections[0].confidence >= 0.9
    assert insp.rows == 141_712 and len(insp.preview) == 50
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(0,)]


def test_cli_ingests_every_real_export(tmp_path, real_data):
    files = [str(real_data / rel) for rel, _ in FILES.values()]
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", *files, "--db", str(tmp_path / "cli.duckdb"), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["profile_name"] for line in lines] == [p for _, p in FILES.values()]
    for line in lines:
        assert {"dataset_id", "source", "rows_read", "rows_rejected", "tickets_inserted", "tickets_updated",
                "tickets_unchanged"} <= set(line)
        assert line["rows_rejected"] == 0
