"""Stable change detection (issue #16): row hashes are md5 over a canonical text, the same in
every DuckDB version, and stores hashed with DuckDB's hash() are rehashed when opened.

The reference hash is computed here in Python (hashlib) from the documented canonical text
(analytics/store/row_hash.py), never read back from the SQL that computes it.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from datetime import datetime

import duckdb
import pytest

from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import find_profile, parse_profile
from analytics.report.builder import store_digest
from analytics.store import db, row_hash
from analytics.store.auth import local_operator
from analytics.store.schema import TICKET_COLUMNS

WHO = local_operator("local")
TICKETS, HISTORY = find_profile("hypercare-tickets"), find_profile("hypercare-history")
EVENTS = parse_profile("""
[source]
name = "events"
layout = "event_log"
[columns]
external_id = "Ticket"
event_time = "Time"
status = "Status"
team = "Team"
tier = "Tier"
title = "Title"
[timestamps]
format = "%Y-%m-%d %H:%M"
[status_map]
"New" = "open"
"Waiting" = "open"
"Resolved" = "resolved"
[waiting]
"Waiting" = "customer"
""")
BASE = {"external_id": "HC-1", "type": "incident", "title": "Login fails", "severity": "SEV-2",
        "priority_raw": "2 - High", "status": "Awaiting Customer", "status_category": "open",
        "service": "Web", "team": "Identity", "tier": "L2", "opened_at": "2026-09-07 09:00:00",
        "resolved_at": "2026-09-07 10:30:00", "reopen_count": "1", "pir_required": "true"}
SECOND = {"external_id": "HC-2", "type": "incident", "title": "Slow search", "severity": "SEV-3",
          "status": "Resolved", "status_category": "resolved", "opened_at": "2026-09-08 11:15:00",
          "resolved_at": "2026-09-08 12:00:00"}
# HC-2's history resolves it earlier than its export's column: the history re-stamps it.
HIST = [["HC-2", "2026-09-08 11:15:00", "New", "Search", "L1"],
        ["HC-2", "2026-09-08 11:45:00", "Resolved", "Search", ""]]
LOG = [["E-1", "2026-09-07 08:00", "New", "Desk", "L1", "Printer jammed"],
       ["E-1", "2026-09-07 09:00", "Waiting", "", "L1", ""],
       ["E-1", "2026-09-07 10:00", "Resolved", "Print", "L2", "Printer jammed again"],
       ["E-2", "2026-09-07 08:30", "New", "Desk", "", "Mail down"]]


# --- the reference: the canonical text, in Python -----------------------------------------------

def canonical(values) -> str:
    """The canonical text of (value, DuckDB type) pairs, as documented in analytics/store/row_hash.py."""
    parts = []
    for value, typ in values:
        if value is None:
            parts.append("\\N" if typ in ("TIMESTAMP", "INTEGER", "BOOLEAN") else "\\N:")
        elif typ == "TIMESTAMP":
            parts.append(value.isoformat(sep="T", timespec="microseconds"))
        elif typ == "BOOLEAN":
            parts.append("true" if value else "false")
        elif typ == "INTEGER":
            parts.append(str(value))
        else:
            parts.append(f"{len(value.encode('utf-8'))}:{value}")
    return "\x1f".join(parts)


def py_hash(text: str) -> int:
    """The md5 digest's first 8 bytes, little-endian."""
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "little")


def py_ticket_hash(row: dict, history: list[dict] | None = None) -> int:
    h = py_hash(canonical([(row[n], t) for n, t in row_hash.ROW_HASH_FIELDS]))
    if history is None:
        return h
    events = "\x1e".join(canonical([(e[n], t) for n, t in row_hash.HISTORY_FIELDS]) for e in history)
    return py_hash(f"{h}\x1f{hashlib.md5(events.encode('utf-8')).hexdigest()}")


def sql_hash(con, row: dict) -> int:
    """row_hash.ticket_sql over one row of bound values."""
    cols = ", ".join(f"CAST(? AS {t}) AS {n}" for n, t in row_hash.ROW_HASH_FIELDS)
    return con.execute(f"SELECT {row_hash.ticket_sql()} FROM (SELECT {cols})",
                       [row[n] for n, _ in row_hash.ROW_HASH_FIELDS]).fetchall()[0][0]


FIXED = {n: None for n, _ in row_hash.ROW_HASH_FIELDS} | {
    "ticket_id": "hypercare:HC-1", "source": "hypercare", "external_id": "HC-1", "title": "Café: a\x1fb \\N",
    "severity": "", "status": "NULL", "opened_at": datetime(2026, 9, 7, 9, 0),
    "resolved_at": datetime(2026, 9, 7, 10, 30, 0, 120000), "reopen_count": -2, "pir_required": False,
    "source_sla_met": True}


def test_the_hash_of_a_fixed_row_is_the_documented_md5():
    text = canonical([(FIXED[n], t) for n, t in row_hash.ROW_HASH_FIELDS])
    assert text.startswith("14:hypercare:HC-1\x1f9:hypercare\x1f4:HC-1\x1f\\N:\x1f13:Café: a\x1fb \\N\x1f0:\x1f")
    assert "\x1f2026-09-07T09:00:00.000000\x1f" in text and "\x1f2026-09-07T10:30:00.120000\x1f" in text
    assert "\x1f-2\x1f\\N\x1f" in text and "\x1ffalse\x1f" in text
    # The number itself, written down: a DuckDB upgrade (or an edit here) that moves it fails.
    assert py_hash(text) == 13980740748618690646
    assert sql_hash(duckdb.connect(), FIXED) == py_hash(text)


def test_an_uploaded_ticket_and_its_history_hash_as_python_computes_them(con, tmp_path):
    _upload(con, tmp_path, "tickets.csv", TICKETS, _tickets_rows([BASE]))
    _upload(con, tmp_path, "log.csv", EVENTS, LOG)
    names = [n for n, _ in row_hash.ROW_HASH_FIELDS]
    rows = con.execute(f"SELECT {', '.join(names)}, row_hash FROM tickets ORDER BY ticket_id").fetchall()
    hist = con.execute("SELECT ticket_id, event_time, status, team, tier, pause_reason FROM status_history "
                       "ORDER BY ticket_id, seq").fetchall()
    for *values, stored in rows:
        row = dict(zip(names, values, strict=True))
        events = [dict(zip(("event_time", "status", "team", "tier", "pause_reason"), h[1:], strict=True))
                  for h in hist if h[0] == row["ticket_id"]]
        assert stored == py_ticket_hash(row, events if row["source"] == "events" else None), row["ticket_id"]
    assert {r[names.index("source")] for r in rows} == {"hypercare", "events"}


@pytest.mark.parametrize("values", [
    (None, "", "NULL", "\\N", "\\N:", "0:"),
    ("a\x1fb", "a", "a\x1f1:b"),
])
def test_null_empty_and_look_alike_texts_hash_apart(values):
    con = duckdb.connect()
    hashes = {sql_hash(con, FIXED | {"title": v}) for v in values}
    assert len(hashes) == len(values)


def test_a_separator_in_a_value_cannot_move_a_boundary():
    con = duckdb.connect()
    one = FIXED | {"title": "a\x1f1:b", "severity": None}
    two = FIXED | {"title": "a", "severity": "b"}
    assert sql_hash(con, one) != sql_hash(con, two)


def _changed(value, typ):
    if value is None:
        return {"TIMESTAMP": datetime(2026, 1, 1), "INTEGER": 0, "BOOLEAN": False}.get(typ, "")
    if typ == "TIMESTAMP":
        return value.replace(microsecond=value.microsecond + 1)
    if typ == "INTEGER":
        return value + 1
    if typ == "BOOLEAN":
        return not value
    return value + " "


@pytest.mark.parametrize("field,typ", row_hash.ROW_HASH_FIELDS)
def test_a_change_in_any_hashed_column_changes_the_hash(field, typ):
    con = duckdb.connect()
    assert sql_hash(con, FIXED | {field: _changed(FIXED[field], typ)}) != sql_hash(con, FIXED)


@pytest.mark.parametrize("change", ["event_time", "status", "team", "tier", "pause_reason", "order", "extra"])
def test_a_change_in_the_history_changes_the_hash(change):
    con = duckdb.connect()
    con.execute("CREATE TABLE h (ticket_id VARCHAR, event_time TIMESTAMP, seq INTEGER, status VARCHAR, "
                "team VARCHAR, tier VARCHAR, pause_reason VARCHAR)")
    base = [("a", datetime(2026, 9, 7, 8), 1, "New", "Desk", None, None),
            ("a", datetime(2026, 9, 7, 9), 2, "Waiting", None, "L1", "customer")]
    edited = [list(e) for e in base]
    if change == "order":
        edited[0][2], edited[1][2] = 2, 1
    elif change == "extra":
        edited.append(["a", datetime(2026, 9, 7, 10), 3, "Resolved", None, None, None])
    else:
        col = ("ticket_id", "event_time", "seq", "status", "team", "tier", "pause_reason").index(change)
        edited[1][col] = datetime(2026, 9, 7, 9, 1) if change == "event_time" else (edited[1][col] or "") + "x"

    def hashed(events):
        con.execute("DELETE FROM h")
        con.executemany("INSERT INTO h VALUES (?, ?, ?, ?, ?, ?, ?)", [list(e) for e in events])
        return con.execute(f"SELECT {row_hash.with_history_sql('42', row_hash.history_md5_sql())} FROM h"
                           ).fetchall()[0][0]
    assert hashed(edited) != hashed(base)


# --- uploads ------------------------------------------------------------------------------------

def _tickets_rows(rows: list[dict]) -> list[list[str]]:
    header = list(TICKET_COLUMNS[2:])
    return [header] + [[r.get(c, "") for c in header] for r in rows]


def _upload(con, tmp_path, name, profile, rows):
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if profile is HISTORY:
            writer.writerow(["external_id", "event_time", "status", "team", "tier"])
        elif profile is EVENTS:
            writer.writerow(["Ticket", "Time", "Status", "Team", "Tier", "Title"])
        writer.writerows(rows)
    return ingest_file(con, path, profile=profile, uploaded_by=WHO)


def _counts(r):
    return r.tickets_inserted, r.tickets_updated, r.tickets_unchanged


UPLOADS = [("tickets.csv", TICKETS, _tickets_rows([BASE, SECOND])), ("history.csv", HISTORY, HIST),
           ("log.csv", EVENTS, LOG)]


def test_the_same_exports_twice_are_unchanged(con, tmp_path):
    for name, profile, rows in UPLOADS:
        _upload(con, tmp_path, name, profile, rows)
    assert con.execute("SELECT resolved_at_basis FROM tickets WHERE external_id = 'HC-2'").fetchall() == [
        ("history",)]
    assert [_counts(_upload(con, tmp_path, n, p, r)) for n, p, r in UPLOADS] == [(0, 0, 2), (0, 0, 1), (0, 0, 2)]


@pytest.mark.parametrize("name,profile,rows", [
    ("tickets.csv", TICKETS, _tickets_rows([BASE | {"title": "Login fails!"}, SECOND])),
    ("tickets.csv", TICKETS, _tickets_rows([BASE | {"resolved_at": "2026-09-07 11:30:00"}, SECOND])),
    ("tickets.csv", TICKETS, _tickets_rows([BASE | {"reopen_count": "2"}, SECOND])),
    ("tickets.csv", TICKETS, _tickets_rows([BASE | {"pir_required": "false"}, SECOND])),
    ("tickets.csv", TICKETS, _tickets_rows([BASE | {"status": "In Progress"}, SECOND])),  # pause reason
    ("history.csv", HISTORY, [HIST[0], HIST[1][:4] + ["L2"]]),
    ("log.csv", EVENTS, [LOG[0], LOG[1][:3] + ["Desk"] + LOG[1][4:], *LOG[2:]]),
])
@pytest.mark.slow
def test_a_changed_value_or_history_is_an_update(con, tmp_path, name, profile, rows):
    for n, p, r in UPLOADS:
        _upload(con, tmp_path, n, p, r)
    changed = _upload(con, tmp_path, "changed-" + name, profile, rows)
    assert changed.tickets_updated == 1 and changed.tickets_inserted == 0


# --- stores hashed by an older version ----------------------------------------------------------

def _old_ticket_sql(overrides=None, alias=""):
    # The formula before issue #16: DuckDB's hash() of the typed values (transform.py, 2026-11).
    cols = ", ".join(TICKET_COLUMNS)
    return (f"CASE WHEN pause_reason IS NULL AND resolved_at_reported IS NOT DISTINCT FROM resolved_at "
            f"THEN hash({cols}) ELSE hash(hash({cols}), pause_reason, resolved_at_reported) END")


def _old_store(tmp_path, monkeypatch):
    """A store loaded (tickets, a history that re-stamps one, an event log) with the old hashes."""
    path = tmp_path / "old.duckdb"
    con = db.connect(path)
    with monkeypatch.context() as m:
        m.setattr(row_hash, "ticket_sql", _old_ticket_sql)
        m.setattr(row_hash, "with_history_sql", lambda t, h: f"hash({t}, {h})")
        m.setattr(row_hash, "history_md5_sql", lambda alias="": (
            "md5(string_agg(concat_ws('\x1f', event_time, status, team, tier, pause_reason), '\x1e' ORDER BY seq))"))
        for name, profile, rows in UPLOADS:
            _upload(con, tmp_path, name, profile, rows)
    con.execute("COMMENT ON COLUMN tickets.row_hash IS NULL")  # as a store of that version has it
    hashes = dict(con.execute("SELECT ticket_id, row_hash FROM tickets").fetchall())
    con.close()
    return path, hashes


@pytest.mark.slow
def test_a_store_with_old_hashes_is_rehashed_on_open_and_a_reupload_changes_nothing(tmp_path, monkeypatch):
    path, old = _old_store(tmp_path, monkeypatch)
    con = db.connect(path)
    assert row_hash.is_current(con)
    new = dict(con.execute("SELECT ticket_id, row_hash FROM tickets").fetchall())
    assert new.keys() == old.keys() and all(new[k] != old[k] for k in new)
    assert [_counts(_upload(con, tmp_path, n, p, r)) for n, p, r in UPLOADS] == [(0, 0, 2), (0, 0, 1), (0, 0, 2)]
    con.close()
    con = db.connect(path)  # rehashed once: opening again changes nothing
    assert dict(con.execute("SELECT ticket_id, row_hash FROM tickets").fetchall()) == new
    con.close()


@pytest.mark.slow
def test_without_the_rehash_an_old_store_would_report_every_ticket_updated(tmp_path, monkeypatch):
    path, _ = _old_store(tmp_path, monkeypatch)
    raw = duckdb.connect(str(path))
    row_hash.mark(raw)  # claims the new format without recomputing
    raw.close()
    con = db.connect(path)
    assert [_counts(_upload(con, tmp_path, n, p, r))[1] for n, p, r in UPLOADS] == [2, 0, 2]


@pytest.mark.slow
def test_a_failed_rehash_leaves_the_old_hashes(tmp_path, monkeypatch):
    path, old = _old_store(tmp_path, monkeypatch)
    backup = tmp_path / "backup.duckdb"
    shutil.copy(path, backup)

    def broken(con):
        raise duckdb.InterruptException("interrupted")
    monkeypatch.setattr(row_hash, "mark", broken)
    with pytest.raises(duckdb.InterruptException):
        db.connect(path, held=False)
    raw = duckdb.connect(str(path))
    assert dict(raw.execute("SELECT ticket_id, row_hash FROM tickets").fetchall()) == old
    assert not row_hash.is_current(raw)
    raw.close()


# --- the report's store digest ------------------------------------------------------------------

def test_the_store_digest_is_the_sum_of_stable_row_hashes(con):
    rows = [("Web", "Login fails", "Access", "Auth", "sig-1", "c-1", "Login fails"),
            ("Web", "", "Access", "Auth", "sig-2", "c-1", "Login fails")]
    con.executemany("INSERT INTO recurrence_signatures VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    names = ("service", "title", "category", "component", "signature", "cluster_id", "representative")
    by_name = sorted(range(len(names)), key=lambda i: names[i])  # the digest reads columns by name
    expected = sum(py_hash(canonical([(r[i], "VARCHAR") for i in by_name])) for r in rows)
    digest = store_digest(con)
    assert digest["recurrence_signatures"] == ["2", str(expected)]
    assert digest["tickets"] == ["0", "0"]
