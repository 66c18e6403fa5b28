"""The source's own SLA verdict: the field's import, the agreement with Hypercare's verdict, page and CLI.

Synthetic tickets are judged by the seed policy with its business calendar in UTC (Mon–Fri
09:00–17:00): SEV-1 resolution 4 h on 24x7, SEV-3 3 business days, SEV-4 "next release" (no
date, so not measurable). 2026-09-14 is a Monday.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.cli import main
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import find_profile
from analytics.sla import agreement as agr
from analytics.sla.engine import evaluate
from analytics.sla.policy import default_policy
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from analytics.store.schema import TICKET_COLUMNS
from tests.helpers import app_using, write_csv

APP = str(Path(__file__).resolve().parent.parent / "app.py")
T0 = datetime(2026, 9, 14, 10, 0)  # Monday 10:00 UTC
AS_OF = T0 + timedelta(days=7)  # Monday 2026-09-21 10:00
POLICY = default_policy("UTC")
NO_SEV2_RESOLUTION = POLICY.model_copy(update={"targets": [
    t for t in POLICY.targets if not (t.severity == "SEV-2" and t.metric == "resolution")]})


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add(con, *tickets: dict, history=()) -> None:
    """Insert tickets (defaults: SEV-1 incident opened at T0, resolved) and history rows."""
    rows = []
    for t in tickets:
        t = {"type": "incident", "severity": "SEV-1", "opened_at": T0, "status": "Resolved",
             "status_category": "resolved", "source": "t", **t}
        t["ticket_id"] = f"t:{t['external_id']}"
        rows.append([t.get(c) for c in TICKET_COLUMNS])
    con.executemany(f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}) VALUES "
                    f"({', '.join('?' for _ in TICKET_COLUMNS)})", rows)
    if history:
        con.executemany("INSERT INTO status_history (ticket_id, event_time, seq, status) VALUES (?, ?, ?, ?)",
                        [(f"t:{x}", when, i, status) for i, (x, when, status) in enumerate(history)])


def _mixed_store(con) -> None:
    open_ = {"status": "In Progress", "status_category": "open"}
    add(con,
        {"external_id": "A", "resolved_at": m(180), "source_sla_met": True},  # both met
        {"external_id": "B", "resolved_at": m(300), "source_sla_met": True},  # 1 h late for Hypercare
        {"external_id": "C", "resolved_at": m(120), "closed_at": m(120 + 5 * 1440), "status": "Closed",
         "status_category": "closed", "source_sla_met": False},  # 2 h early, closed 5 days later
        {"external_id": "D", "resolved_at": m(360), "source_sla_met": False},  # both breached
        {"external_id": "E", "source_sla_met": True, **open_},  # open for a week: breached
        {"external_id": "F", "severity": "SEV-3", "opened_at": AS_OF - timedelta(minutes=30),
         "source_sla_met": False, **open_},  # 30 min into a 3-business-day clock
        {"external_id": "G", "severity": "SEV-4", "resolved_at": m(60), "source_sla_met": True},
        {"external_id": "H", "severity": "SEV-2", "resolved_at": m(60), "source_sla_met": False},
        {"external_id": "I", "source_sla_met": True},  # no resolved_at: the history's Resolved row
        {"external_id": "J", "resolved_at": m(120), "reopen_count": 2, "source_sla_met": False},
        {"external_id": "K", "resolved_at": m(500)},  # no source verdict: not compared
        {"external_id": "L", "severity": None, "resolved_at": m(60), "source_sla_met": True},
        history=[("I", T0, "New"), ("I", m(300), "Resolved")])


def test_agreement_per_severity_and_reasons(con):
    _mixed_store(con)
    summary, rows = agr.agreement(con, Filters(), AS_OF, policies=[NO_SEV2_RESOLUTION])
    assert list(summary.columns) == list(agr.SUMMARY_COLUMNS)
    assert summary.set_index("severity").drop(columns="agreement_pct").to_dict("index") == {
        "SEV-1": {"compared": 7, "agree": 2, "source_met_hypercare_breached": 3, "source_breached_hypercare_met": 2,
                  "no_hypercare_verdict": 0},
        "SEV-2": {"compared": 1, "agree": 0, "source_met_hypercare_breached": 0, "source_breached_hypercare_met": 0,
                  "no_hypercare_verdict": 1},
        "SEV-3": {"compared": 1, "agree": 0, "source_met_hypercare_breached": 0, "source_breached_hypercare_met": 0,
                  "no_hypercare_verdict": 1},
        "SEV-4": {"compared": 1, "agree": 0, "source_met_hypercare_breached": 0, "source_breached_hypercare_met": 0,
                  "no_hypercare_verdict": 1},
        "Unmapped": {"compared": 1, "agree": 0, "source_met_hypercare_breached": 0,
                     "source_breached_hypercare_met": 0, "no_hypercare_verdict": 1},
        "All": {"compared": 11, "agree": 2, "source_met_hypercare_breached": 3, "source_breached_hypercare_met": 2,
                "no_hypercare_verdict": 4},
    }
    pct = dict(zip(summary["severity"], summary["agreement_pct"]))
    assert pct["SEV-1"] == pct["All"] == pytest.approx(28.6)  # 2 of 7 judged
    assert pd.isna(pct["SEV-2"]) and pd.isna(pct["SEV-4"])
    assert agr.summary_view(summary)["agreement"].tolist() == ["28.6 %", "—", "—", "—", "—", "28.6 %"]

    assert list(rows.columns) == list(agr.DISAGREEMENT_COLUMNS)
    assert rows["ticket_id"].tolist() == ["t:B", "t:E", "t:I", "t:C", "t:J", "t:H", "t:F", "t:G", "t:L"]
    by = rows.set_index("ticket_id")
    assert by.loc["t:B", "reason"] == "source says met, Hypercare breached: resolved 1 h of business time after the target"
    assert (by.loc["t:B", "business_time"], by.loc["t:B", "target"]) == ("5 h", "4 h")
    assert by.loc["t:E", "reason"] == (  # a week on 24x7: 10,080 minutes against 240
        "source says met, Hypercare breached: still open, 164 h of business time past the target")
    assert by.loc["t:I", "reason"] == (
        "source says met, Hypercare breached: resolved 1 h of business time after the target; Hypercare's "
        "resolution time is from the status history (the export has no resolved_at)")
    assert by.loc["t:C", "reason"] == (
        "source says breached, Hypercare met: resolved 2 h of business time inside the target; the source's "
        "verdict may be from a different clock: closed 5.0 d after resolution, a wait that a clock "
        "stopping at closure counts")
    assert by.loc["t:J", "reason"] == (
        "source says breached, Hypercare met: resolved 2 h of business time inside the target; reopened 2 times: "
        "the two clocks may treat the cycles differently")
    assert by.loc["t:H", "reason"].startswith("source says breached but Hypercare judges no target for this severity")
    assert by.loc["t:H", "kind"] == agr.NO_TARGET
    # "3 business days" = 3 × the 8-hour working day = 24 business hours (a duration, as ServiceNow).
    assert by.loc["t:F", "reason"] == "source says breached; Hypercare: no verdict yet, clock running (30 min of 24 h)"
    assert by.loc["t:G", "reason"].startswith("source says met; Hypercare: not measurable (next release")
    assert by.loc["t:L", "reason"].startswith("source says met; Hypercare: not measurable (")
    assert by.loc["t:L", "severity"] == "Unmapped"
    assert by["source_verdict"].to_dict() == {
        "t:B": "met", "t:E": "met", "t:I": "met", "t:C": "breached", "t:J": "breached", "t:H": "breached",
        "t:F": "breached", "t:G": "met", "t:L": "met"}
    assert by.loc[["t:B", "t:C", "t:F", "t:G"], "hypercare_verdict"].tolist() == [
        "breached", "met", "running", "not applicable"]


def test_a_given_evaluation_gives_the_same_answer_and_filters_apply(con):
    _mixed_store(con)
    frame = evaluate(con, as_of=AS_OF, policies=[NO_SEV2_RESOLUTION])
    own = agr.agreement(con, Filters(), AS_OF, policies=[NO_SEV2_RESOLUTION])
    given = agr.agreement(con, Filters(), AS_OF, frame=frame)
    pd.testing.assert_frame_equal(own[0], given[0])
    pd.testing.assert_frame_equal(own[1], given[1])
    summary, rows = agr.agreement(con, Filters(severity=("SEV-3", "SEV-4")), AS_OF, policies=[POLICY])
    assert summary["severity"].tolist() == ["SEV-3", "SEV-4", "All"]
    assert rows["ticket_id"].tolist() == ["t:F", "t:G"]
    assert agr.compared_count(con, Filters()) == 11
    assert agr.compared_count(con, Filters(severity=("SEV-2",))) == 1


def test_no_source_verdict_means_nothing_compared(con):
    add(con, {"external_id": "A", "resolved_at": m(60)})
    assert agr.compared_count(con, Filters()) == 0
    summary, rows = agr.agreement(con, Filters(), AS_OF, policies=[POLICY])
    assert summary.to_dict("records") == [{"severity": "All", "compared": 0, "agree": 0,
                                           "source_met_hypercare_breached": 0, "source_breached_hypercare_met": 0,
                                           "no_hypercare_verdict": 0, "agreement_pct": None}]
    assert rows.empty and list(rows.columns) == list(agr.DISAGREEMENT_COLUMNS)


def test_duration_text():
    assert [agr.duration_text(v) for v in (0, 59.4, 60, 192, 90_000, float("nan"))] == [
        "0 s", "59 min", "1 h", "3 h 12 min", "62 d", "—"]


# --- the field: mapping, boolean parsing, old stores ----------------------------------------

LIST_HEADER = ["number", "short_description", "priority", "state", "opened_at", "resolved_at", "made_sla"]


def test_list_export_made_sla_parses_the_usual_boolean_spellings(con, tmp_path):
    values = ["true", "FALSE", "1", "0", "yes", "No", "TRUE", "false", "", "maybe"]
    rows = [[f"INC{i}", "x", "3 - Moderate", "Closed", "2026-09-07 09:00:00", "2026-09-07 10:00:00", v]
            for i, v in enumerate(values)]
    write_csv(tmp_path / "list.csv", LIST_HEADER, rows)
    result = ingest_file(con, tmp_path / "list.csv", uploaded_by=local_operator("local"))
    assert result.profile_name == "servicenow-incident-list"
    got = dict(con.execute("SELECT external_id, source_sla_met FROM tickets").fetchall())
    assert [got[f"INC{i}"] for i in range(len(values))] == [True, False, True, False, True, False, True, False,
                                                            None, None]


def test_event_log_takes_the_last_events_verdict(con, tmp_path):
    header = ["number", "incident_state", "sys_mod_count", "sys_updated_at", "opened_at", "priority", "made_sla"]
    rows = [  # INC2's rows are out of time order in the file: its last event says true
        ["INC1", "New", "0", "1/9/2026 09:00", "1/9/2026 09:00", "3 - Moderate", "true"],
        ["INC1", "Active", "1", "1/9/2026 10:00", "1/9/2026 09:00", "3 - Moderate", "true"],
        ["INC1", "Closed", "2", "9/9/2026 10:00", "1/9/2026 09:00", "3 - Moderate", "false"],
        ["INC2", "Closed", "2", "9/9/2026 10:00", "1/9/2026 09:00", "2 - High", "true"],
        ["INC2", "New", "0", "1/9/2026 09:00", "1/9/2026 09:00", "2 - High", "false"],
        ["INC3", "New", "0", "1/9/2026 09:00", "1/9/2026 09:00", "4 - Low", "?"],
    ]
    write_csv(tmp_path / "log.csv", header, rows)
    ingest_file(con, tmp_path / "log.csv", profile=find_profile("servicenow-event-log"),
                uploaded_by=local_operator("local"))
    got = dict(con.execute("SELECT external_id, source_sla_met FROM tickets").fetchall())
    assert got == {"INC1": False, "INC2": True, "INC3": None}


def test_an_old_store_gets_the_column(tmp_path):
    con = db.connect(tmp_path / "old.duckdb")
    con.execute("ALTER TABLE tickets DROP COLUMN source_sla_met")
    con.close()
    con = db.connect(tmp_path / "old.duckdb")
    cols = {r[0]: r[1] for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tickets'").fetchall()}
    con.close()
    assert cols["source_sla_met"] == "BOOLEAN"


# --- the real ServiceNow event log ---------------------------------------------------------

SEVERITY_OF_PRIORITY = {"1 - Critical": "SEV-1", "2 - High": "SEV-2", "3 - Moderate": "SEV-3", "4 - Low": "SEV-4"}


def test_real_servicenow_log_compares_the_last_events_made_sla(con, real_data):
    path = real_data / "servicenow-incident-event-log" / "incident_event_log.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found: the real ServiceNow event log is needed for this test")
    raw = pd.read_csv(path, usecols=["number", "sys_updated_at", "sys_mod_count", "priority", "made_sla"],
                      na_values="?", keep_default_na=False)
    raw["t"] = pd.to_datetime(raw["sys_updated_at"], format="%d/%m/%Y %H:%M")
    raw["row"] = range(len(raw))
    last = raw.sort_values(["number", "t", "sys_mod_count", "row"]).groupby("number").tail(1).set_index("number")
    expected = last["made_sla"].astype(bool)
    ingest_file(con, path, uploaded_by=local_operator("local"))
    stored = con.execute("SELECT external_id, source_sla_met FROM tickets").df().set_index("external_id")
    assert stored["source_sla_met"].to_dict() == expected.to_dict()

    summary, rows = agr.agreement(con, Filters(), datetime(2017, 3, 1))
    want = last["priority"].map(SEVERITY_OF_PRIORITY).value_counts()
    got = summary.set_index("severity")["compared"]
    assert got.drop("All").to_dict() == want.to_dict()
    assert got["All"] == last.shape[0] == 24_918
    # Every listed ticket's source verdict is its last event's made_sla.
    listed = rows.assign(number=rows["ticket_id"].str.removeprefix("servicenow:")).set_index("number")
    assert (listed["source_verdict"] == expected.loc[listed.index].map({True: "met", False: "breached"})).all()


# --- the page and the command line ---------------------------------------------------------

def _list_csv(path: Path, with_verdict: bool = True) -> Path:
    header = LIST_HEADER if with_verdict else LIST_HEADER[:-1]
    rows = [["INC1", "Login fails", "1 - Critical", "Resolved", "2025-09-01 10:00:00", "2025-09-01 13:00:00",
             "true"],
            ["INC2", "Slow", "1 - Critical", "Resolved", "2025-09-01 10:00:00", "2025-09-01 15:00:00", "true"],
            ["INC3", "Down", "1 - Critical", "Resolved", "2025-09-01 10:00:00", "2025-09-01 12:00:00", "false"]]
    write_csv(path, header, [r if with_verdict else r[:-1] for r in rows])
    return path


def _sla_page(tmp_path, with_verdict: bool) -> AppTest:
    with app_using(tmp_path / "page.duckdb") as store:
        con = db.connect(store)
        ingest_file(con, _list_csv(tmp_path / "list.csv", with_verdict), uploaded_by=local_operator("local"))
        con.close()
        at = AppTest.from_file(APP, default_timeout=120).run()
        at.switch_page("pages/sla.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at


def test_sla_page_shows_the_agreement_in_words(tmp_path):
    at = _sla_page(tmp_path, with_verdict=True)
    assert "Agreement with the source's own SLA verdict" in [h.value for h in at.subheader]
    tables = [d.value for d in at.dataframe]
    summary = next(t for t in tables if "tickets compared" in t.columns)
    assert summary.set_index("severity").loc["SEV-1", ["tickets compared", "agree", "agreement"]].tolist() == [
        3, 1, "33.3 %"]
    listed = next(t for t in tables if "source says" in t.columns).set_index("ticket")
    assert listed.loc["servicenow:INC2", "reason"] == (
        "source says met, Hypercare breached: resolved 1 h of business time after the target")
    assert listed.loc["servicenow:INC3", ["source says", "Hypercare says", "Hypercare business time", "target"]
                      ].tolist() == ["breached", "met", "2 h", "4 h"]
    assert "Download disagreements (CSV)" in [b.proto.label for b in at.get("download_button")]


def test_sla_page_without_source_verdicts_has_no_agreement_section(tmp_path):
    at = _sla_page(tmp_path, with_verdict=False)
    assert "Agreement with the source's own SLA verdict" not in [h.value for h in at.subheader]


def test_cli_json_csv_and_text(tmp_path, capsysbinary):
    def printed() -> str:
        return capsysbinary.readouterr().out.decode()

    store = str(tmp_path / "cli.duckdb")
    assert main(["ingest", str(_list_csv(tmp_path / "list.csv")), "--db", store]) == 0
    printed()
    assert main(["sla-agreement", "--db", store, "--as-of", "2025-10-01T00:00:00Z", "--json"]) == 0
    out = json.loads(printed())
    assert out["as_of"] == "2025-10-01T00:00:00Z" and out["definition"] == agr.DEFINITION
    assert out["summary"][0] == {"severity": "SEV-1", "compared": 3, "agree": 1, "source_met_hypercare_breached": 1,
                                 "source_breached_hypercare_met": 1, "no_hypercare_verdict": 0,
                                 "agreement_pct": 33.3}
    first = out["disagreements"][0]
    assert (first["ticket_id"], first["resolution_stopped_at"]) == ("servicenow:INC2", "2025-09-01T15:00:00Z")
    assert main(["sla-agreement", "--db", store, "--from", "2025-09-02", "--json"]) == 0
    assert json.loads(printed())["summary"] == [
        {"severity": "All", "compared": 0, "agree": 0, "source_met_hypercare_breached": 0,
         "source_breached_hypercare_met": 0, "no_hypercare_verdict": 0, "agreement_pct": None}]
    assert main(["sla-agreement", "--db", store, "--csv"]) == 0
    listed = list(csv.DictReader(io.StringIO(printed())))
    assert [(r["ticket_id"], r["source_verdict"], r["hypercare_verdict"]) for r in listed] == [
        ("servicenow:INC2", "met", "breached"), ("servicenow:INC3", "breached", "met")]
    assert main(["sla-agreement", "--db", store]) == 0
    text = printed()
    assert "33.3 %" in text and "2 tickets disagree" in text
