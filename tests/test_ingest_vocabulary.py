"""Crafted files: a profile's status vocabulary and waits, resolution from history, traits."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from analytics.ingest.datasets import ack_equals_open_sources, data_quality, data_quality_rows, delete_dataset
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import ProfileError, parse_profile
from analytics.ingest.stage import inspect_file
from analytics.store import db
from analytics.store.auth import local_operator
from tests.helpers import write_csv

EVENT_PROFILE = """
[source]
name = "desk"
layout = "event_log"
describes_outages = true
[columns]
external_id = "id"
event_time = "at"
status = "status"
severity = "prio"
resolved_at = "resolved"
[timestamps]
format = "%Y-%m-%d %H:%M"
[status_map]
"Fixed" = "open"
"Bounced" = "open"
[waiting]
"Waiting on Vendor" = "vendor"
"waiting on user" = "user"
[events]
resolved = ["Done"]
"""
EVENT_HEADER = ["id", "at", "status", "prio", "resolved"]
EVENT_ROWS = [
    # A: resolved, re-opened ("Bounced"), resolved again, closed; the resolved column was
    # re-stamped by the closing update.
    ["A", "2026-09-01 08:00", "New", "P1", "2026-09-03 12:00"],
    ["A", "2026-09-01 09:00", "Done", "P1", "2026-09-03 12:00"],
    ["A", "2026-09-01 10:00", "Bounced", "P1", "2026-09-03 12:00"],
    ["A", "2026-09-02 10:00", "Waiting on Vendor", "P1", "2026-09-03 12:00"],
    ["A", "2026-09-02 11:00", "Resolved", "P1", "2026-09-03 12:00"],
    ["A", "2026-09-03 12:00", "Closed", "P1", "2026-09-03 12:00"],
    # B: "Fixed" is open for this source (the built-in words would say resolved); waits on the user.
    ["B", "2026-09-01 08:00", "New", "", ""],
    ["B", "2026-09-01 09:00", "Fixed", "", ""],
    ["B", "2026-09-01 10:00", "Waiting On User", "", ""],
]


@pytest.fixture
def events(tmp_path):
    path = tmp_path / "desk.csv"
    write_csv(path, EVENT_HEADER, EVENT_ROWS)
    return path


def test_profile_vocabulary_and_waits_reach_history_and_tickets(con, events):
    r = ingest_file(con, events, profile=parse_profile(EVENT_PROFILE), uploaded_by=local_operator("local"))
    hist = con.execute("SELECT ticket_id, status, status_category, pause_reason FROM status_history "
                       "ORDER BY ticket_id, seq").fetchall()
    assert [h[2:] for h in hist if h[0] == "desk:A"] == [
        ("open", None), ("resolved", None), ("open", None), ("open", "vendor"), ("resolved", None), ("closed", None)]
    # "Fixed" is open by the profile; a waiting status matches whatever its case.
    assert [h[2:] for h in hist if h[0] == "desk:B"] == [("open", None), ("open", None), ("open", "user")]
    tickets = dict(con.execute("SELECT external_id, (status_category, pause_reason, reopen_count) FROM tickets"
                               ).fetchall())
    assert tickets == {"A": ("closed", None, 1), "B": ("open", "user", 0)}
    assert r.tickets_without_priority == 1
    assert con.execute("SELECT describes_outages FROM datasets").fetchall() == [(True,)]


def test_event_log_resolution_is_the_final_stretch_not_the_column(con, events):
    ingest_file(con, events, profile=parse_profile(EVENT_PROFILE), uploaded_by=local_operator("local"))
    got = dict(con.execute("SELECT external_id, (resolved_at, resolved_at_reported, resolved_at_basis) FROM tickets"
                           ).fetchall())
    # A left its first resolution ("Done") when it bounced; its final stretch starts at Resolved.
    assert got["A"] == (datetime(2026, 9, 2, 11), datetime(2026, 9, 3, 12), "history")
    assert got["B"] == (None, None, "history")


def test_changing_the_waits_of_a_profile_updates_the_same_file(con, events):
    ingest_file(con, events, profile=parse_profile(EVENT_PROFILE), uploaded_by=local_operator("local"))
    edited = parse_profile(EVENT_PROFILE.replace('"waiting on user" = "user"', '"waiting on user" = "customer"'))
    again = ingest_file(con, events, profile=edited, uploaded_by=local_operator("local"))
    assert (again.tickets_updated, again.tickets_unchanged) == (1, 1)
    assert con.execute("SELECT pause_reason FROM tickets WHERE external_id = 'B'").fetchall() == [("customer",)]


TICKETS_PROFILE = """
[source]
name = "desk"
layout = "tickets"
[columns]
external_id = "id"
title = "title"
status = "status"
severity = "prio"
opened_at = "opened"
resolved_at = "resolved"
[timestamps]
format = "%Y-%m-%d %H:%M"
"""
HISTORY_PROFILE = """
[source]
name = "desk-history"
label = "desk"
layout = "history"
[columns]
external_id = "id"
event_time = "at"
status = "status"
[timestamps]
format = "%Y-%m-%d %H:%M"
"""
TICKETS_HEADER = ["id", "title", "status", "prio", "opened", "resolved"]
TICKETS_ROWS = [["A", "Checkout down", "Resolved", "P1", "2026-09-01 08:00", "2026-09-05 08:00"],
                ["B", "Typo", "Resolved", "", "2026-09-01 08:00", "2026-09-02 08:00"]]
HISTORY_ROWS = [["A", "2026-09-01 08:00", "New"], ["A", "2026-09-01 12:00", "Resolved"]]


def _resolution(con) -> dict:
    return dict(con.execute("SELECT external_id, (resolved_at, resolved_at_reported, resolved_at_basis) "
                            "FROM tickets").fetchall())


def test_history_loaded_after_its_tickets_restamps_them(con, tmp_path):
    tickets, history = tmp_path / "t.csv", tmp_path / "h.csv"
    write_csv(tickets, TICKETS_HEADER, TICKETS_ROWS)
    write_csv(history, ["id", "at", "status"], HISTORY_ROWS)
    first = ingest_file(con, tickets, profile=parse_profile(TICKETS_PROFILE), uploaded_by=local_operator("local"))
    assert first.tickets_without_priority == 1
    assert "1 tickets without a priority value" in first.summary()
    reported = datetime(2026, 9, 5, 8)
    assert _resolution(con)["A"] == (reported, reported, "export column")
    hist = ingest_file(con, history, profile=parse_profile(HISTORY_PROFILE), uploaded_by=local_operator("local"))
    assert _resolution(con) == {"A": (datetime(2026, 9, 1, 12), reported, "history"),
                                "B": (datetime(2026, 9, 2, 8), datetime(2026, 9, 2, 8), "export column")}
    # The same tickets file again: nothing changes, the history still decides.
    again = ingest_file(con, tickets, profile=parse_profile(TICKETS_PROFILE), uploaded_by=local_operator("local"))
    assert (again.tickets_updated, again.tickets_unchanged) == (0, 2)
    assert _resolution(con)["A"][2] == "history"
    # An edited ticket is rewritten from the file and re-stamped from the stored history.
    write_csv(tickets, TICKETS_HEADER, [["A", "Checkout down (EU)"] + TICKETS_ROWS[0][2:], TICKETS_ROWS[1]])
    edited = ingest_file(con, tickets, profile=parse_profile(TICKETS_PROFILE), uploaded_by=local_operator("local"))
    assert edited.tickets_updated == 1
    assert _resolution(con)["A"] == (datetime(2026, 9, 1, 12), reported, "history")
    # Without its history the ticket gets the export's value back.
    delete_dataset(con, hist.dataset_id, actor=local_operator("local"))
    assert _resolution(con)["A"] == (reported, reported, "export column")


def test_severity_guess_warns_and_the_upload_lists_statuses(con, events):
    guess = parse_profile(EVENT_PROFILE.replace("describes_outages = true", "severity_guess = true"))
    insp = inspect_file(con, events, profile=guess)
    assert insp.status_values["Waiting on Vendor"] == ("open", "vendor")
    assert insp.status_values["Closed"] == ("closed", None)
    assert insp.status_values["Done"] == ("resolved", None)  # an [events] resolved status
    assert list(insp.status_values)[0] == "New"  # most frequent first
    r = ingest_file(con, events, profile=guess, uploaded_by=local_operator("local"))
    assert r.warnings == ["prio: the order of this field is not documented by the source; this mapping is a guess"]
    assert con.execute("SELECT describes_outages FROM datasets").fetchall() == [(False,)]


def test_waiting_reasons_are_validated_and_saved(tmp_path):
    with pytest.raises(ProfileError, match="waiting values must be one of"):
        parse_profile(EVENT_PROFILE.replace('= "vendor"', '= "lunch"'))
    profile = parse_profile(EVENT_PROFILE)
    again = parse_profile(profile.to_toml())
    assert again.waiting == {"Waiting on Vendor": "vendor", "waiting on user": "user"}
    assert again.source.describes_outages is True and again.source.severity_guess is False


def test_ack_at_opening_is_flagged_per_source(con, tmp_path):
    header = ["id", "title", "status", "prio", "opened", "acked"]
    # "same": 9 of 10 acknowledged at the opened time; "later": 1 of 10.
    rows = [[f"S{i}", "x", "Open", "P3", "2026-09-01 08:00", "2026-09-01 08:00" if i < 9 else "2026-09-01 09:00"]
            for i in range(10)]
    rows += [[f"L{i}", "x", "Open", "P3", "2026-09-01 08:00", "2026-09-01 08:00" if i < 1 else "2026-09-01 09:00"]
             for i in range(10)]
    profile = TICKETS_PROFILE.replace('resolved_at = "resolved"', 'acknowledged_at = "acked"')
    for label in ("same", "later"):
        path = tmp_path / f"{label}.csv"
        write_csv(path, header, [r for r in rows if r[0][0] == label[0].upper()])
        ingest_file(con, path, profile=parse_profile(profile.replace('name = "desk"', f'name = "{label}"')),
                    uploaded_by=local_operator("local"))
    assert ack_equals_open_sources(con, min_tickets=5) == {"same": 0.9}
    assert ack_equals_open_sources(con, min_tickets=5, min_share=0.95) == {}
    assert ack_equals_open_sources(con) == {}  # 10 acknowledged tickets are too few to judge a source
    assert ack_equals_open_sources(con, min_tickets=5, min_share=0.1) == {"same": 0.9, "later": 0.1}


def test_ack_check_lists_the_rows_of_flagged_sources(con, monkeypatch, tmp_path):
    from analytics.ingest import datasets
    monkeypatch.setattr(datasets, "ACK_EQUALS_OPEN_MIN_TICKETS", 2)
    path = tmp_path / "a.csv"
    write_csv(path, ["id", "title", "status", "prio", "opened", "acked"],
              [["1", "x", "Open", "P3", "2026-09-01 08:00", "2026-09-01 08:00"],
               ["2", "x", "Open", "P3", "2026-09-01 08:00", "2026-09-01 08:00"]])
    ingest_file(con, path, profile=parse_profile(TICKETS_PROFILE.replace('resolved_at = "resolved"',
                                                                          'acknowledged_at = "acked"')),
                uploaded_by=local_operator("local"))
    assert data_quality(con).set_index("check").loc["ack_equals_open", "count"] == 2
    assert list(data_quality_rows(con, "ack_equals_open")["ticket_id"]) == ["desk:1", "desk:2"]


def test_old_stores_get_the_new_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE TABLE status_history (ticket_id VARCHAR NOT NULL, event_time TIMESTAMP NOT NULL, "
                "seq INTEGER NOT NULL, status VARCHAR, team VARCHAR, tier VARCHAR, dataset_id INTEGER)")
    old.execute("CREATE TABLE datasets (dataset_id INTEGER PRIMARY KEY, file_name VARCHAR NOT NULL)")
    old.execute("CREATE TABLE tickets (ticket_id VARCHAR, resolved_at TIMESTAMP)")
    old.close()
    con = db.connect(path)
    types = dict(((t, c), d) for t, c, d in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall())
    assert types[("tickets", "pause_reason")] == "VARCHAR"
    assert types[("tickets", "resolved_at_reported")] == "TIMESTAMP"
    assert types[("tickets", "resolved_at_basis")] == "VARCHAR"
    assert types[("status_history", "pause_reason")] == "VARCHAR"
    assert types[("status_history", "status_category")] == "VARCHAR"
    assert types[("datasets", "describes_outages")] == "BOOLEAN"
