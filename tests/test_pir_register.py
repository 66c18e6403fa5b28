"""PIR register uploads: header spellings, rejected rows, refused files leave the store as it
was, the same file twice writes nothing, unknown references, and the latest register wins."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest

from analytics.governance import pir, pir_register
from analytics.governance.pir_register import RegisterError, ingest_register, parse_day
from analytics.sla.policy import business_calendar, default_policy, save_policy
from analytics.store import audit
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

FRI = datetime(2026, 11, 27, 10)  # due Fri 4 Dec for a SEV-1 (no holidays)
AS_OF = datetime(2026, 12, 10, 12)
TABLES = ("pir_registers", "pir_reviews", "pir_actions", "pir_rejects", "audit_log", "settings")


def _snapshot(con) -> dict:
    return {t: con.execute(f"SELECT count(*), md5(coalesce(string_agg(CAST(x AS VARCHAR), '|' ORDER BY "
                           f"CAST(x AS VARCHAR)), '')) FROM {t} x").fetchall()[0] for t in TABLES}


@pytest.fixture
def store(con):
    save_policy(con, default_policy("UTC").model_copy(update={"version": "t", "calendars": [business_calendar("UTC")]}),
                local_operator("test"))
    for tid in ("INC1", "INC2", "INC3"):
        con.execute("INSERT INTO tickets (ticket_id, source, external_id, type, severity, status_category, opened_at, "
                    "resolved_at, pir_completed_at) VALUES (?, 'sn', ?, 'incident', 'SEV-1', 'resolved', ?, ?, ?)",
                    [f"sn:{tid}", tid, FRI - timedelta(hours=3), FRI,
                     datetime(2026, 12, 1, 9) if tid == "INC3" else None])
    return con


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


GOOD = _csv("Ticket ID,Completed,Action item,Owner,Due date,Closed",
            "INC1,2026-12-03,Add queue alert,Ops,2026-12-08,2026-12-05",
            "INC1,2026-12-03,Fix retry storm,Eng,2026-12-09,",
            "inc2,2026-12-07,,,,",
            "sn:INC3,,Runbook,Ops,,",
            "INC9,2026-12-02,,,,")


def test_good_register(store):
    before = store.execute("SELECT count(*) FROM audit_log").fetchall()[0][0]
    r = ingest_register(store, data=GOOD, name="pir.csv", actor=local_operator("alice"))
    assert (r.rows_read, r.rows_loaded, r.rows_rejected, r.reviews, r.actions) == (5, 5, 0, 4, 3)
    assert r.unknown_refs == ["INC9"] and not r.unchanged and r.register_id == 1
    assert any("INC9" in m for m in r.messages)
    assert "5 rows read" in r.summary()
    rows = pir.reviews(store, Filters(), AS_OF).set_index("external_id")
    assert rows.loc["INC1", "completed_on"] == date(2026, 12, 3) and rows.loc["INC1", "state"] == "done on time"
    assert rows.loc["INC2", "completion_source"] == "register pir.csv"  # matched case-insensitively
    assert rows.loc["INC2", "state"] == "done late"  # 7 Dec is after Fri 4 Dec
    # INC3: the register names it (by canonical id) without a date: the column's date stands.
    assert rows.loc["INC3", "completion_source"] == pir.SOURCE_COLUMN
    acts = pir.actions(store, Filters(), AS_OF).set_index("row_number")
    assert acts.loc[1, "state"] == "closed" and acts.loc[1, "age_days"] == 2  # 3 Dec → 5 Dec
    assert acts.loc[2, "state"] == "overdue" and acts.loc[2, "age_days"] == 7  # 3 Dec → as-of 10 Dec
    assert acts.loc[4, "state"] == "open" and acts.loc[4, "age_days"] == 13  # from resolution Fri 27 Nov
    s = pir.summary(store, Filters(), AS_OF)
    assert (s["actions_total"], s["actions_closed"], s["actions_overdue"]) == (3, 1, 1)
    assert s["action_closure_pct"] == pytest.approx(100 / 3)
    assert s["open_action_median_age_days"] == 10.0 and s["oldest_open_action_days"] == 13
    assert s["completed_from_register"] == 2 and s["completed_from_column"] == 1
    assert ("PIR register entries naming no ticket in the store", 1) in s["excluded"]
    trail = store.execute("SELECT actor, action, object, detail FROM audit_log ORDER BY seq").fetchall()
    assert len(trail) == before + 1
    assert trail[-1][:3] == ("alice", audit.PIR_REGISTER_UPLOAD, "pir.csv") and '"unknown_refs":1' in trail[-1][3]
    reg = pir_register.registers(store)
    assert reg.loc[0, ["register_id", "tickets", "actions", "uploaded_by"]].tolist() == [1, 4, 3, "alice"]


@pytest.mark.parametrize("header", [
    "ticket_id,completed_on,action,owner,due_on,closed_on",
    "Incident,PIR date,Action,Owner,Due,Closed",
    "INCIDENT NUMBER, Completion Date ,Action Item,Action Owner,Due-Date,Closed On",
    "Ticket ID,PIR completed on,Follow-up action,Responsible,Action due,Date closed,Notes",
])
def test_header_spellings(store, header):
    row = "INC1,2026-12-03,Alert,Ops,2026-12-08," + ("," if header.endswith("Notes") else "")
    r = ingest_register(store, data=_csv(header, row), name="x.csv", actor=local_operator("local"))
    assert (r.rows_loaded, r.actions) == (1, 1)
    a = pir.actions(store, Filters(), AS_OF)
    assert a.loc[0, ["action", "owner", "due_on"]].tolist() == ["Alert", "Ops", date(2026, 12, 8)]


def test_bad_rows_are_kept_with_row_numbers(store):
    data = _csv("Ticket,Completed,Action,Owner,Due,Closed",
                "INC1,2026-12-03,ok,,,",
                ",2026-12-03,no ticket,,,",
                "INC2,2026-02-30,,,,",
                "INC2,2026-12-03,,Bob,,",
                "INC2,2026-12-03,x,,next week,",
                "INC3," + "y" * 10 + ",,,,",
                "INC3,2026-12-03," + "z" * 2001 + ",,,")
    r = ingest_register(store, data=data, name="bad.csv", actor=local_operator("local"))
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (7, 1, 6)
    rej = pir_register.rejects(store, r.register_id)
    assert rej["row_number"].tolist() == [2, 3, 4, 5, 6, 7]
    reasons = rej["reason"].tolist()
    assert reasons[0] == "no ticket id"
    assert reasons[1] == "completed on: '2026-02-30' is not a real date"
    assert reasons[2] == "owner, due or closed date given without an action"
    assert reasons[3] == "due on: 'next week' is not a date (use YYYY-MM-DD)"
    assert "is not a date" in reasons[4] and "longer than 2000" in reasons[5]
    assert '"Owner": "Bob"' in rej.loc[2, "raw"]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (_csv("Ticket,Owner", "INC1,Ops"), "needs a completed on column"),
    (_csv("Ticket,Incident,Completed", "INC1,INC1,2026-12-01"), "both look like the ticket_ref column"),
    (_csv("Ticket,Completed"), "header but no data rows"),
    (_csv("Ticket,Completed", ",2026-12-01", "INC1,soon"), "none of the 2 rows could be loaded (first problem, row 1: no ticket id)"),
    (_csv("Ticket,Completed", "INC1,2026-12-01,extra"), "line 2"),
], ids=["empty", "no-completed-column", "two-ticket-columns", "header-only", "no-loadable-row", "ragged"])
def test_unreadable_files_are_refused_and_the_store_is_unchanged(store, data, message):
    ingest_register(store, data=GOOD, name="first.csv", actor=local_operator("local"))
    before = _snapshot(store)
    with pytest.raises(RegisterError) as err:
        ingest_register(store, data=data, name="broken.csv", actor=local_operator("local"))
    assert str(err.value).startswith("broken.csv") and message in str(err.value)
    assert "\n" not in str(err.value)
    assert _snapshot(store) == before


def test_formula_like_text_is_stored_as_it_is_and_noted(store):
    data = _csv("Ticket,Completed,Action,Owner", 'INC1,2026-12-01,"=HYPERLINK(""http://x"")",- ops')
    r = ingest_register(store, data=data, name="pir.csv", actor=local_operator("local"))
    assert (r.rows_loaded, r.actions) == (1, 1)
    assert any("2 cells ('Action' 1, 'Owner' 1) start like a spreadsheet formula" in m for m in r.messages)
    assert store.execute("SELECT action, owner FROM pir_actions").fetchall() == [('=HYPERLINK("http://x")', "- ops")]


def test_no_file_at_all(store):
    with pytest.raises(RegisterError, match="no register file"):
        ingest_register(store, actor=local_operator("local"))


def test_a_failure_while_writing_rolls_everything_back(store, monkeypatch):
    before = _snapshot(store)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", boom)
    with pytest.raises(RuntimeError):
        ingest_register(store, data=GOOD, name="pir.csv", actor=local_operator("local"))
    assert _snapshot(store) == before


def test_same_file_twice_changes_nothing(store, tmp_path):
    path = tmp_path / "register.csv"
    path.write_bytes(GOOD)
    first = ingest_register(store, path, actor=local_operator("local"))
    before = _snapshot(store)
    again = ingest_register(store, data=io.BytesIO(GOOD).getvalue(), name="renamed.csv", actor=local_operator("local"))
    assert again.unchanged and again.register_id is None and again.duplicate_of == first.register_id
    assert (again.rows_read, again.rows_loaded) == (5, 5) and "nothing was written" in again.summary()
    assert _snapshot(store) == before


def test_latest_register_naming_a_ticket_wins(store):
    ingest_register(store, data=GOOD, name="october.csv", actor=local_operator("local"))
    newer = _csv("Ticket,Completed,Action,Owner,Due,Closed",
                 "INC1,2026-12-08,Only this action now,Ops,2026-12-20,")
    ingest_register(store, data=newer, name="november.csv", actor=local_operator("local"))
    rows = pir.reviews(store, Filters(), AS_OF).set_index("external_id")
    assert rows.loc["INC1", "completed_on"] == date(2026, 12, 8) and rows.loc["INC1", "state"] == "done late"
    assert rows.loc["INC1", "completion_source"] == "register november.csv"
    assert rows.loc["INC2", "completion_source"] == "register october.csv"  # not named again: the older one stands
    acts = pir.actions(store, Filters(), AS_OF)
    assert acts.loc[acts["ticket_id"] == "sn:INC1", "action"].tolist() == ["Only this action now"]
    assert acts.loc[acts["ticket_id"] == "sn:INC3", "register_file"].tolist() == ["october.csv"]
    assert pir_register.registers(store)["file_name"].tolist() == ["november.csv", "october.csv"]


def test_completion_after_as_of_does_not_count_yet(store):
    ingest_register(store, data=_csv("Ticket,Completed", "INC1,2026-12-20"), name="future.csv",
                    actor=local_operator("local"))
    row = pir.reviews(store, Filters(), AS_OF).set_index("external_id").loc["INC1"]
    assert row["completed_on"] is None and row["state"] == "overdue"


def test_conflicting_completed_dates_keep_the_latest(store):
    r = ingest_register(store, data=_csv("Ticket,Completed", "INC1,2026-12-01", "INC1,2026-12-03"), name="two.csv",
                        actor=local_operator("local"))
    assert any("the latest, 2026-12-03, counts" in m for m in r.messages)
    assert pir.reviews(store, Filters(), AS_OF).set_index("external_id").loc["INC1", "completed_on"] == date(2026, 12, 3)


def test_xlsx_register(store, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Ticket ID", "Completed"])
    ws.append(["INC2", datetime(2026, 12, 2)])
    wb.save(tmp_path / "reg.xlsx")
    r = ingest_register(store, tmp_path / "reg.xlsx", actor=local_operator("local"))
    assert r.rows_loaded == 1
    assert pir.reviews(store, Filters(), AS_OF).set_index("external_id").loc["INC2", "completed_on"] == date(2026, 12, 2)


@pytest.mark.parametrize("text, dayfirst, expected", [
    ("2026-12-03", True, date(2026, 12, 3)),
    ("2026-12-03T14:00:00Z", True, date(2026, 12, 3)),
    ("2026/12/03", True, date(2026, 12, 3)),
    ("03/12/2026", True, date(2026, 12, 3)),
    ("12/03/2026", False, date(2026, 12, 3)),
    ("3.12.2026", False, date(2026, 12, 3)),  # dots are always day-first
    ("3 Dec 2026", True, date(2026, 12, 3)),
    ("Dec 3, 2026", True, date(2026, 12, 3)),
    ("03-Dec-2026", True, date(2026, 12, 3)),
])
def test_parse_day(text, dayfirst, expected):
    assert parse_day(text, dayfirst) == expected


def test_month_first_file(store):
    r = ingest_register(store, data=_csv("Ticket,Completed", "INC1,12/03/2026", "INC2,12/25/2026"), name="us.csv",
                        actor=local_operator("local"))
    assert any("month-first" in m for m in r.messages)
    assert pir.reviews(store, Filters(), datetime(2027, 1, 5)).set_index("external_id").loc["INC1", "completed_on"] \
        == date(2026, 12, 3)
    assert not pir_register.day_first(["12/25/2026"]) and pir_register.day_first(["25/12/2026", "12/25/2026"])


def test_actions_follow_the_resolution_date_filter(store):
    ingest_register(store, data=GOOD, name="pir.csv", actor=local_operator("local"))
    friday = Filters(date_from=date(2026, 11, 27), date_to=date(2026, 11, 27))
    assert len(pir.actions(store, friday, AS_OF)) == 3
    assert pir.actions(store, Filters(date_from=date(2026, 11, 28)), AS_OF).empty
    assert pir.actions(store, Filters(date_to=date(2026, 11, 26)), AS_OF).empty
    assert pir.summary(store, friday, AS_OF)["actions_total"] == 3
