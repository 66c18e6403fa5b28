"""An older export never silently reverts newer stored tickets (issue #14, item 9).

A ticket's version is the source's updated time when the profile maps one, else its last event
(an event log or history), else its latest lifecycle time (a tickets file). A stored ticket with
a newer version keeps its row and its history; the file's older ones are counted, reported and
listed, and replaced only on purpose (replace_newer / --replace-newer / the Upload checkbox).

The real-data tests replay the issue on the ServiceNow event log (the full log, then its events
before 2016-04-01) and skip, with the reason, when the real exports are absent.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import pandas as pd
import pytest

from analytics.cli import main as cli
from analytics.ingest.datasets import OLDER_KEY, data_quality, data_quality_rows, list_datasets
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import parse_profile
from analytics.store import audit, db
from analytics.store.auth import local_operator
from tests.helpers import snapshot, write_csv

HEADER = ["Ticket ID", "Title", "Status", "Created", "Resolved", "Updated"]
TICKETS = parse_profile("""
[source]
name = "versioned"
[columns]
external_id = "Ticket ID"
title = "Title"
status = "Status"
opened_at = "Created"
resolved_at = "Resolved"
updated_at = "Updated"
[timestamps]
format = "%Y-%m-%d %H:%M"
""")
NO_UPDATED = TICKETS.model_copy(update={"columns": {k: v for k, v in TICKETS.columns.items() if k != "updated_at"}})
EVENTS = parse_profile("""
[source]
name = "events"
layout = "event_log"
[columns]
external_id = "Ticket"
event_time = "Time"
status = "Status"
[timestamps]
format = "%Y-%m-%d %H:%M"
""")
HISTORY = parse_profile("""
[source]
name = "versioned-history"
label = "versioned"
layout = "history"
[columns]
external_id = "Ticket ID"
event_time = "Time"
status = "Status"
[timestamps]
format = "%Y-%m-%d %H:%M"
""")
NEWER = [["T-1", "Login fails", "Resolved", "2026-09-07 09:00", "2026-09-07 10:00", "2026-09-07 10:00"],
         ["T-2", "Slow search", "Open", "2026-09-08 11:00", "", "2026-09-08 11:00"]]
OLDER = [["T-1", "Login fails", "Open", "2026-09-07 09:00", "", "2026-09-07 09:30"],
         ["T-2", "Slow search", "Open", "2026-09-08 11:00", "", "2026-09-08 11:00"],
         ["T-3", "New one", "Open", "2026-09-09 08:00", "", "2026-09-09 08:00"]]
LOG = [["E-1", "2026-09-07 08:00", "New"], ["E-1", "2026-09-07 09:00", "Active"],
       ["E-1", "2026-09-07 10:00", "Resolved"], ["E-1", "2026-09-07 11:00", "Closed"]]


def _load(con, tmp_path, name, rows, profile=TICKETS, header=HEADER, **kw):
    path = tmp_path / name
    write_csv(path, header, rows)
    return ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"), **kw)


def _status(con, ticket_id):
    return con.execute("SELECT status_category FROM tickets WHERE ticket_id = ?", [ticket_id]).fetchall()[0][0]


def test_an_older_file_keeps_the_stored_version_counts_and_lists_it(con, tmp_path):
    _load(con, tmp_path, "newer.csv", NEWER)
    stored = "SELECT * FROM tickets WHERE ticket_id <> 'versioned:T-3' ORDER BY ticket_id"
    before = con.execute(stored).fetchall()
    r = _load(con, tmp_path, "older.csv", OLDER)
    assert (r.tickets_inserted, r.tickets_updated, r.tickets_unchanged, r.tickets_older) == (1, 0, 1, 1)
    assert "1 tickets in this file are older than what is stored: kept the stored version" in r.summary()
    assert r.to_dict()["tickets_older"] == 1 and r.to_dict()["replace_newer"] is False
    assert _status(con, "versioned:T-1") == "resolved"
    assert con.execute(stored).fetchall() == before
    ds = list_datasets(con).set_index("dataset_id").loc[r.dataset_id]
    assert ds.tickets_older == 1 and not ds.replace_newer
    assert data_quality(con, r.dataset_id).set_index("check").loc[OLDER_KEY, "count"] == 1
    listed = data_quality_rows(con, OLDER_KEY, r.dataset_id)
    assert listed[["ticket_id", "stored_version_at", "file_version_at", "replaced"]].values.tolist() == [
        ["versioned:T-1", pd.Timestamp("2026-09-07 10:00"), pd.Timestamp("2026-09-07 09:30"), False]]


def test_replace_newer_replaces_on_purpose_and_the_audit_says_so(con, tmp_path):
    _load(con, tmp_path, "newer.csv", NEWER)
    _load(con, tmp_path, "older.csv", OLDER)
    r = _load(con, tmp_path, "older.csv", OLDER, replace_newer=True)  # the same file, now on purpose
    assert (r.tickets_updated, r.tickets_older, r.duplicate_of) == (1, 1, None)
    assert "replaced the stored version on purpose" in r.summary()
    assert _status(con, "versioned:T-1") == "open"
    assert list_datasets(con).set_index("dataset_id").loc[r.dataset_id, "replace_newer"]
    detail = json.loads(audit.trail(con).iloc[0]["detail"])
    assert detail["replace_newer"] is True and detail["tickets_older"] == 1


def test_an_equal_version_is_applied_and_the_same_file_again_changes_nothing(con, tmp_path):
    _load(con, tmp_path, "newer.csv", NEWER)
    fixed = [list(NEWER[0]), NEWER[1]]
    fixed[0][1] = "Login fails for SSO users"  # a correction at the same updated time
    r = _load(con, tmp_path, "fixed.csv", fixed)
    assert (r.tickets_updated, r.tickets_older) == (1, 0)
    before = snapshot(con)
    again = _load(con, tmp_path, "fixed.csv", fixed)
    assert again.duplicate_of == r.dataset_id and again.tickets_updated == 0
    assert snapshot(con) == before


def test_without_an_updated_column_the_latest_lifecycle_time_decides(con, tmp_path):
    _load(con, tmp_path, "newer.csv", NEWER, profile=NO_UPDATED)
    r = _load(con, tmp_path, "older.csv", OLDER, profile=NO_UPDATED)
    # T-1's stored resolution (10:00) is later than anything the older file knows (opened 09:00).
    assert (r.tickets_updated, r.tickets_older) == (0, 1)
    assert _status(con, "versioned:T-1") == "resolved"


def test_an_unchanged_ticket_seen_later_takes_that_version(con, tmp_path):
    _load(con, tmp_path, "v1.csv", [NEWER[0]])
    later = [NEWER[0][:5] + ["2026-09-08 12:00"]]  # same content, a later updated time
    assert _load(con, tmp_path, "v2.csv", later).tickets_unchanged == 1
    between = [["T-1", "Login fails", "Open", "2026-09-07 09:00", "", "2026-09-08 08:00"]]
    r = _load(con, tmp_path, "between.csv", between)
    assert r.tickets_older == 1 and _status(con, "versioned:T-1") == "resolved"


def test_an_event_log_prefix_keeps_the_stored_ticket_and_its_history(con, tmp_path):
    header = ["Ticket", "Time", "Status"]
    _load(con, tmp_path, "full.csv", LOG, EVENTS, header)
    r = _load(con, tmp_path, "prefix.csv", LOG[:2], EVENTS, header)
    assert (r.tickets_updated, r.tickets_older) == (0, 1)
    assert _status(con, "events:E-1") == "closed"
    assert con.execute("SELECT count(*) FROM status_history").fetchall()[0][0] == 4
    r = _load(con, tmp_path, "prefix.csv", LOG[:2], EVENTS, header, replace_newer=True)
    assert r.tickets_updated == 1 and _status(con, "events:E-1") == "open"
    assert con.execute("SELECT count(*) FROM status_history").fetchall()[0][0] == 2


def test_an_older_history_file_keeps_the_stored_history(con, tmp_path):
    _load(con, tmp_path, "tickets.csv", [NEWER[0]])
    header = ["Ticket ID", "Time", "Status"]
    full = [["T-1", "2026-09-07 09:00", "Open"], ["T-1", "2026-09-07 10:00", "Resolved"]]
    _load(con, tmp_path, "history.csv", full, HISTORY, header)
    r = _load(con, tmp_path, "early.csv", full[:1], HISTORY, header)
    assert (r.tickets_updated, r.tickets_older) == (0, 1)
    assert con.execute("SELECT count(*) FROM status_history").fetchall()[0][0] == 2


def test_a_store_from_before_versions_gets_them_as_its_uploads_would_have(tmp_path):
    path = tmp_path / "old.duckdb"
    con = db.connect(path)
    _load(con, tmp_path, "full.csv", LOG, EVENTS, ["Ticket", "Time", "Status"])
    _load(con, tmp_path, "tickets.csv", NEWER, NO_UPDATED)
    versions = con.execute("SELECT ticket_id, version_at FROM tickets ORDER BY 1").fetchall()
    assert versions == [("events:E-1", datetime(2026, 9, 7, 11)), ("versioned:T-1", datetime(2026, 9, 7, 10)),
                        ("versioned:T-2", datetime(2026, 9, 8, 11))]
    con.execute("ALTER TABLE tickets DROP COLUMN version_at")
    con.close()
    con = db.connect(path)  # the upgrade
    try:
        assert con.execute("SELECT ticket_id, version_at FROM tickets ORDER BY 1").fetchall() == versions
    finally:
        con.close()


def test_the_cli_reports_older_tickets_and_replaces_them_on_request(tmp_path, capsys):
    store_path = tmp_path / "s.duckdb"
    newer, older = tmp_path / "newer.csv", tmp_path / "older.csv"
    write_csv(newer, HEADER, NEWER)
    write_csv(older, HEADER, OLDER)
    profile = tmp_path / "versioned.toml"
    profile.write_text(TICKETS.to_toml())
    base = ["ingest", "--db", str(store_path), "--profile", str(profile)]
    assert cli(base + [str(newer)]) == 0
    assert cli(base + [str(older)]) == 0
    out = capsys.readouterr().out
    assert "1 tickets in this file are older than what is stored: kept the stored version" in out
    assert "--replace-newer" in out
    assert cli(base + [str(older), "--replace-newer", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["tickets_older"], result["replace_newer"], result["tickets_updated"]) == (1, True, 1)


# --- the reproduction on the real ServiceNow log ---------------------------------------

SERVICENOW = "servicenow-incident-event-log/incident_event_log.csv.gz"
CUT = "2016-04-01"


@pytest.fixture(scope="module")
def servicenow(real_data, tmp_path_factory):
    """(store holding the full log, the log's events before CUT as a CSV, the pandas expectation)."""
    folder = tmp_path_factory.mktemp("older-servicenow")
    full = pd.read_csv(real_data / SERVICENOW, dtype=str, keep_default_na=False)
    early_csv = folder / "events-before-april.csv"
    when = pd.to_datetime(full["sys_updated_at"], format="%d/%m/%Y %H:%M")
    full[when < CUT].to_csv(early_csv, index=False)
    path = folder / "full.duckdb"
    con = db.connect(path)
    ingest_file(con, real_data / SERVICENOW, uploaded_by=local_operator("local"))
    con.close()
    return path, early_csv, _expected(full, when)


def _expected(full: pd.DataFrame, when: pd.Series) -> dict:
    """Independently of Hypercare: which tickets the early file has in an older version, how many of
    them it would leave not closed, and how many history rows replacing them would remove."""
    frame = full.assign(t=when, seq=pd.to_numeric(full["sys_mod_count"]), row=range(len(full)))
    early = frame[frame.t < CUT]
    last_early = early.groupby("number").t.max()
    older = last_early.index[last_early < frame.groupby("number").t.max().loc[last_early.index]]
    final = early[early.number.isin(older)].sort_values(["number", "t", "seq", "row"]).groupby("number").last()
    return {"older": {f"servicenow:{n}" for n in older}, "reverted": int((final.incident_state != "Closed").sum()),
            "history_removed": int(frame.number.isin(older).sum() - early.number.isin(older).sum())}


def _copy(path, tmp_path):
    target = tmp_path / "store.duckdb"
    shutil.copy(path, target)
    return db.connect(target)


def _stored(con) -> tuple[pd.DataFrame, int]:
    tickets = con.execute("SELECT ticket_id, status_category, row_hash FROM tickets").df().set_index("ticket_id")
    return tickets, con.execute("SELECT count(*) FROM status_history").fetchall()[0][0]


def test_real_servicenow_older_events_revert_nothing(servicenow, tmp_path):
    path, early_csv, expected = servicenow
    con = _copy(path, tmp_path)
    try:
        tickets, history = _stored(con)
        r = ingest_file(con, early_csv, uploaded_by=local_operator("local"))
        after, history_after = _stored(con)
        assert r.tickets_older == len(expected["older"]) == 3353
        assert r.tickets_updated == r.tickets_inserted == 0
        closed = tickets.status_category == "closed"
        assert (after.loc[closed[closed].index, "status_category"] == "closed").all()
        assert after.equals(tickets) and history_after == history
        listed = data_quality_rows(con, OLDER_KEY, r.dataset_id, limit=10_000)
        assert set(listed.ticket_id) == expected["older"]
    finally:
        con.close()


def test_real_servicenow_replace_newer_reverts_on_purpose(servicenow, tmp_path):
    path, early_csv, expected = servicenow
    con = _copy(path, tmp_path)
    try:
        tickets, history = _stored(con)
        r = ingest_file(con, early_csv, replace_newer=True, uploaded_by=local_operator("local"))
        after, history_after = _stored(con)
        assert r.tickets_older == r.tickets_updated == len(expected["older"])
        reverted = (tickets.status_category == "closed") & (after.loc[tickets.index].status_category != "closed")
        assert reverted.sum() == expected["reverted"] == 3346
        assert history - history_after == expected["history_removed"] == 9038
    finally:
        con.close()
