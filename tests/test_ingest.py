"""Ingest on crafted files: upserts, rejects, reconciliation, all-or-nothing, time zones."""

from __future__ import annotations

import gzip
from datetime import datetime

import pytest

from analytics.ingest import transform
from analytics.ingest.datasets import data_quality, data_quality_rows, delete_dataset, list_datasets, rejects
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import parse_profile
from analytics.ingest.stage import IngestError, inspect_file
from analytics.ingest.timeparse import guess_format
from analytics.store.auth import local_operator
from tests.helpers import snapshot, write_csv

HEADER = ["Ticket ID", "Title", "Priority", "Status", "Created", "Resolved", "Team"]
ROWS = [
    ["T-1", "Login fails", "P1", "Resolved", "2026-09-07 09:00", "2026-09-07 10:30", "Identity"],
    ["T-2", "Slow search", "Medium", "Open", "2026-09-08 11:15", "", "Search"],
    ["T-3", "Typo on page", "low", "Closed", "2026-09-09 16:00", "2026-09-10 09:00", "Web"],
]
PROFILE = parse_profile("""
[source]
name = "crafted"
layout = "tickets"
[columns]
external_id = "Ticket ID"
title = "Title"
severity = "Priority"
status = "Status"
opened_at = "Created"
resolved_at = "Resolved"
team = "Team"
[timestamps]
format = "%Y-%m-%d %H:%M"
""")


@pytest.fixture
def crafted(tmp_path):
    path = tmp_path / "crafted.csv"
    write_csv(path, HEADER, ROWS)
    return path


def test_first_upload_inserts_every_ticket(con, crafted):
    r = ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (3, 3, 0)
    assert (r.tickets_inserted, r.tickets_updated, r.tickets_unchanged) == (3, 0, 0)
    rows = con.execute("SELECT ticket_id, severity, status_category, resolved_at FROM tickets ORDER BY 1").fetchall()
    assert rows == [
        ("crafted:T-1", "SEV-1", "resolved", datetime(2026, 9, 7, 10, 30)),
        ("crafted:T-2", "SEV-3", "open", None),
        ("crafted:T-3", "SEV-4", "closed", datetime(2026, 9, 10, 9, 0)),
    ]


def test_same_file_twice_changes_nothing(con, crafted):
    first = ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    before = snapshot(con)
    second = ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    assert (second.tickets_inserted, second.tickets_updated, second.tickets_unchanged) == (0, 0, 3)
    assert second.duplicate_of == first.dataset_id
    assert snapshot(con) == before


def test_updated_export_upserts(con, tmp_path, crafted):
    ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    changed = [r[:] for r in ROWS]
    changed[1][3], changed[1][5] = "Resolved", "2026-09-08 15:00"
    changed.append(["T-4", "New one", "High", "Open", "2026-09-11 08:00", "", "Web"])
    path = tmp_path / "crafted-v2.csv"
    write_csv(path, HEADER, changed)
    r = ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert (r.tickets_inserted, r.tickets_updated, r.tickets_unchanged) == (1, 1, 2)
    assert con.execute("SELECT count(*), count(DISTINCT ticket_id) FROM tickets").fetchall() == [(4, 4)]
    assert con.execute("SELECT status_category FROM tickets WHERE external_id = 'T-2'").fetchall() == [("resolved",)]
    assert len(list_datasets(con)) == 2


def test_bad_rows_are_rejected_and_kept(con, tmp_path):
    rows = ROWS + [
        ["", "No id", "P2", "Open", "2026-09-10 10:00", "", "Web"],
        ["T-9", "Bad date", "P2", "Open", "31/31/2026", "", "Web"],
    ]
    path = tmp_path / "mixed.csv"
    write_csv(path, HEADER, rows)
    r = ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert r.rows_read == r.rows_loaded + r.rows_rejected == 5
    assert r.rows_rejected == 2
    rej = rejects(con, r.dataset_id)
    assert list(rej["row_number"]) == [4, 5]
    assert "missing ticket id (column 'Ticket ID')" in rej["reason"][0]
    assert "column 'Created': '31/31/2026' is not a timestamp" in rej["reason"][1]
    assert '"Title":"Bad date"' in rej["raw"][1]


def test_duplicate_ids_within_a_file_keep_the_last_row(con, tmp_path):
    rows = ROWS + [["T-1", "Login fails again", "P1", "Open", "2026-09-07 09:00", "", "Identity"]]
    path = tmp_path / "dups.csv"
    write_csv(path, HEADER, rows)
    r = ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert r.duplicate_rows == 2 and r.tickets_inserted == 3
    assert con.execute("SELECT title FROM tickets WHERE external_id = 'T-1'").fetchall() == [("Login fails again",)]
    dq = data_quality(con).set_index("check")
    assert dq.loc["duplicate_ids", "count"] == 1
    assert list(data_quality_rows(con, "duplicate_ids")["row_numbers"]) == ["1, 4"]


def test_data_quality_checks_count_the_right_rows(con, tmp_path):
    rows = [
        ["A", "resolved before opened", "P1", "Resolved", "2026-09-07 09:00", "2026-09-06 09:00", "X"],
        ["B", "closed without time", "P2", "Closed", "2026-09-07 09:00", "", "X"],
        ["C", "unknown priority", "Whenever", "Open", "2026-09-07 09:00", "", "X"],
        ["D", "fine", "P3", "Open", "2026-09-07 09:00", "", "X"],
    ]
    path = tmp_path / "dq.csv"
    write_csv(path, HEADER, rows)
    r = ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert r.unmapped_severities == {"Whenever": 1}
    dq = data_quality(con, r.dataset_id).set_index("check")["count"].to_dict()
    assert dq == {"before_opened": 1, "out_of_order": 0, "resolved_without_time": 1,
                  "unmapped_severity": 1, "formula_text": 0, "duplicate_ids": 0, "older_than_stored": 0,
                  "ack_equals_open": 0}
    assert list(data_quality_rows(con, "before_opened")["ticket_id"]) == ["crafted:A"]
    with pytest.raises(ValueError):
        data_quality_rows(con, "nope")


def test_formula_like_cells_load_as_they_are_and_are_flagged(con, tmp_path):
    rows = [
        ["A", "- printer jammed", "P1", "Open", "2026-09-07 09:00", "", "+ops"],
        ["B", '"=HYPERLINK(""http://evil"",""x"")"', "P2", "Open", "2026-09-07 09:00", "", "X"],
        ["C", "fine", "P3", "Open", "2026-09-07 09:00", "", "X"],
    ]
    path = tmp_path / "formulas.csv"
    write_csv(path, HEADER, rows)
    r = ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert (r.rows_loaded, r.rows_rejected, r.formula_cells) == (3, 0, {"Title": 2, "Team": 1})
    assert r.warnings == ["3 cells ('Title' 2, 'Team' 1) start like a spreadsheet formula (=, +, -, @, tab or CR "
                          "first): stored as they are, and neutralised with a leading ' in every CSV and XLSX export"]
    assert con.execute("SELECT title, team FROM tickets ORDER BY external_id").fetchall() == [
        ("- printer jammed", "+ops"), ('=HYPERLINK("http://evil","x")', "X"), ("fine", "X")]
    assert data_quality(con, r.dataset_id).set_index("check").loc["formula_text", "count"] == 2
    assert list(data_quality_rows(con, "formula_text")["ticket_id"]) == ["crafted:A", "crafted:B"]
    assert list(list_datasets(con)["formula_cells"]) == [3]


def test_failure_while_writing_rolls_everything_back(con, crafted, tmp_path, monkeypatch):
    ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    before = snapshot(con)
    changed = [r[:] for r in ROWS] + [["T-5", "x", "P1", "Open", "2026-09-12 08:00", "", "Web"]]
    path = tmp_path / "v2.csv"
    write_csv(path, HEADER, changed)
    import analytics.ingest.pipeline as ingest_mod

    real_write = ingest_mod._write

    def exploding(cur, *args, **kwargs):
        real_write(cur, *args, **kwargs)  # everything written inside the transaction …
        raise RuntimeError("disk full")  # … and then the upload fails

    monkeypatch.setattr(ingest_mod, "_write", exploding)
    with pytest.raises(RuntimeError):
        ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert snapshot(con) == before


@pytest.mark.parametrize("tz,local,utc", [
    ("Europe/Amsterdam", "2026-07-01 12:00", datetime(2026, 7, 1, 10, 0)),   # CEST, UTC+2
    ("Europe/Amsterdam", "2026-01-15 12:00", datetime(2026, 1, 15, 11, 0)),  # CET, UTC+1
    ("America/New_York", "2026-03-08 12:00", datetime(2026, 3, 8, 16, 0)),   # DST started that night
    ("UTC", "2026-03-08 12:00", datetime(2026, 3, 8, 12, 0)),
])
def test_naive_timestamps_are_read_in_the_chosen_zone(con, tmp_path, tz, local, utc):
    path = tmp_path / "tz.csv"
    write_csv(path, HEADER, [["Z-1", "t", "P1", "Open", local, "", "X"]])
    ingest_file(con, path, profile=PROFILE, tz=tz, uploaded_by=local_operator("local"))
    assert con.execute("SELECT opened_at FROM tickets").fetchall() == [(utc,)]


def test_offsets_in_the_data_win_over_the_zone(con, tmp_path):
    path = tmp_path / "offsets.csv"
    write_csv(path, ["id", "opened"], [["A", "2010-03-31T15:59:42+01:00"], ["B", "2021-01-08T16:38:15.000-0500"]])
    profile = parse_profile('[source]\nname="o"\n[columns]\nexternal_id="id"\nopened_at="opened"\n')
    ingest_file(con, path, profile=profile, tz="Asia/Tokyo", uploaded_by=local_operator("local"))
    got = dict(con.execute("SELECT external_id, opened_at FROM tickets").fetchall())
    assert got == {"A": datetime(2010, 3, 31, 14, 59, 42), "B": datetime(2021, 1, 8, 21, 38, 15)}


def test_day_first_is_read_from_the_data(con, tmp_path):
    path = tmp_path / "dayfirst.csv"
    write_csv(path, ["id", "opened"], [["A", "5/3/2016 12:00"], ["B", "29/2/2016 01:16"]])
    profile = parse_profile('[source]\nname="d"\n[columns]\nexternal_id="id"\nopened_at="opened"\n')
    insp = inspect_file(con, path, profile=profile)
    assert insp.timestamps[0].format == "%d/%m/%Y %H:%M" and not insp.timestamps[0].ambiguous
    ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"))
    got = dict(con.execute("SELECT external_id, opened_at FROM tickets").fetchall())
    assert got == {"A": datetime(2016, 3, 5, 12, 0), "B": datetime(2016, 2, 29, 1, 16)}


def test_ambiguous_day_month_is_flagged(con, tmp_path):
    path = tmp_path / "amb.csv"
    write_csv(path, ["id", "opened"], [["A", "5/3/2016 12:00"], ["B", "6/4/2016 01:16"]])
    profile = parse_profile('[source]\nname="a"\n[columns]\nexternal_id="id"\nopened_at="opened"\n')
    insp = inspect_file(con, path, profile=profile)
    assert insp.timestamps[0].ambiguous
    r = ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"))
    assert any("ambiguous" in w for w in r.warnings)


EVENT_HEADER = ["case", "when", "activity", "group", "level", "prio"]
EVENTS = [
    ["C1", "2026-09-07 09:00", "New", "L1 desk", "L1", "High"],
    ["C1", "2026-09-07 09:20", "In Progress", "L1 desk", "L1", "High"],
    ["C1", "2026-09-07 11:00", "Awaiting Customer", "App support", "L2", "High"],
    ["C1", "2026-09-07 12:00", "Resolved", "App support", "L2", "High"],
    ["C1", "2026-09-08 08:00", "In Progress", "App support", "L2", "High"],  # reopened
    ["C1", "2026-09-08 10:00", "Resolved", "App support", "L2", "High"],
    ["C1", "2026-09-13 10:00", "Closed", "App support", "L2", "High"],
    ["C2", "2026-09-09 09:00", "New", "L1 desk", "L1", "Low"],
    ["C2", "2026-09-09 10:00", "Resolved", "L1 desk", "L1", "Low"],
    ["C2", "2026-09-10 10:00", "In Progress", "L1 desk", "L1", "Low"],  # reopened, still open
]
EVENT_PROFILE = parse_profile("""
[source]
name = "events"
layout = "event_log"
[columns]
external_id = "case"
event_time = "when"
status = "activity"
team = "group"
tier = "level"
severity = "prio"
[events]
acknowledged = ["In Progress"]
""")


def test_event_log_becomes_tickets_and_history(con, tmp_path):
    path = tmp_path / "events.csv"
    write_csv(path, EVENT_HEADER, EVENTS)
    r = ingest_file(con, path, profile=EVENT_PROFILE, uploaded_by=local_operator("local"))
    assert (r.rows_read, r.tickets_inserted) == (10, 2)
    t = {row[0]: row[1:] for row in con.execute(
        "SELECT external_id, opened_at, acknowledged_at, resolved_at, closed_at, status_category, reopen_count, "
        "reassignment_count, team, tier FROM tickets").fetchall()}
    # The last entry into Resolved counts; the ticket ended closed.
    assert t["C1"] == (datetime(2026, 9, 7, 9), datetime(2026, 9, 7, 9, 20), datetime(2026, 9, 8, 10),
                       datetime(2026, 9, 13, 10), "closed", 1, 1, "App support", "L2")
    # Reopened and still open: no resolution time.
    assert t["C2"] == (datetime(2026, 9, 9, 9), datetime(2026, 9, 10, 10), None, None, "open", 1, 0, "L1 desk", "L1")
    hist = con.execute("SELECT seq, status, tier FROM status_history WHERE ticket_id = 'events:C1' ORDER BY seq").fetchall()
    assert [h[1] for h in hist] == [e[2] for e in EVENTS[:7]]
    assert [h[0] for h in hist] == list(range(1, 8))


def test_event_log_reupload_is_unchanged_and_history_change_is_an_update(con, tmp_path):
    path = tmp_path / "events.csv"
    write_csv(path, EVENT_HEADER, EVENTS)
    ingest_file(con, path, profile=EVENT_PROFILE, uploaded_by=local_operator("local"))
    again = ingest_file(con, path, profile=EVENT_PROFILE, uploaded_by=local_operator("local"))
    assert (again.tickets_inserted, again.tickets_updated, again.tickets_unchanged) == (0, 0, 2)
    more = EVENTS + [["C2", "2026-09-11 10:00", "Awaiting Customer", "L1 desk", "L1", "Low"]]
    path2 = tmp_path / "events2.csv"
    write_csv(path2, EVENT_HEADER, more)
    r = ingest_file(con, path2, profile=EVENT_PROFILE, uploaded_by=local_operator("local"))
    assert (r.tickets_inserted, r.tickets_updated, r.tickets_unchanged) == (0, 1, 1)
    assert con.execute("SELECT count(*) FROM status_history").fetchall() == [(11,)]


def test_history_file_attaches_to_loaded_tickets_and_rejects_strangers(con, tmp_path, crafted):
    ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    path = tmp_path / "hist.csv"
    write_csv(path, ["id", "at", "state"], [["T-1", "2026-09-07 09:00", "New"], ["T-1", "2026-09-07 10:30", "Resolved"],
                                           ["T-77", "2026-09-07 10:30", "New"]])
    profile = parse_profile('[source]\nname="h"\nlabel="crafted"\nlayout="history"\n'
                            '[columns]\nexternal_id="id"\nevent_time="at"\nstatus="state"\n')
    r = ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"))
    assert (r.rows_loaded, r.rows_rejected, r.tickets_updated) == (2, 1, 1)
    assert "no ticket crafted:T-77 in the store" in rejects(con, r.dataset_id)["reason"][0]
    assert con.execute("SELECT count(*) FROM status_history").fetchall() == [(2,)]


def test_template_ids_split_cells_and_defaults(con, tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, ["inst", "id", "opened", "comps"], [["Apache", "1", "2026-01-01 00:00", "API;Web"],
                                                       ["Qt", "1", "2026-01-02 00:00", "Git"]])
    profile = parse_profile('[source]\nname="tpl"\n[columns]\nexternal_id="{inst}-{id}"\nopened_at="opened"\n'
                            'service="comps"\ncomponent="comps"\n[split]\nservice=";"\n[defaults]\ntype="defect"\n')
    ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"))
    assert con.execute("SELECT external_id, service, component, type FROM tickets ORDER BY 1").fetchall() == [
        ("Apache-1", "API", "API;Web", "defect"), ("Qt-1", "Git", "Git", "defect")]


def test_gzip_upload_from_bytes(con):
    body = ("\n".join([",".join(HEADER)] + [",".join(r) for r in ROWS]) + "\n").encode()
    r = ingest_file(con, data=gzip.compress(body), name="crafted.csv.gz", profile=PROFILE,
                    uploaded_by=local_operator("local"))
    assert r.tickets_inserted == 3 and r.file_name == "crafted.csv.gz"


def test_a_damaged_gzip_upload_leaves_the_store_as_it_was(con):
    body = ("\n".join([",".join(HEADER)] + [",".join(r) for r in ROWS]) + "\n").encode()
    data = bytearray(gzip.compress(body, compresslevel=0, mtime=0))
    data[data.index(b"Slow search")] = ord("F")  # a stored block: only the CRC-32 can tell
    before = snapshot(con)
    with pytest.raises(IngestError, match=r"^crafted\.csv\.gz: the gzip checksum does not match its content"):
        ingest_file(con, data=bytes(data), name="crafted.csv.gz", profile=PROFILE, uploaded_by=local_operator("local"))
    assert snapshot(con) == before


def test_inspecting_an_xlsx_reads_only_its_first_rows(con, tmp_path, monkeypatch):
    import openpyxl

    from analytics.ingest import stage as ingest_stage

    monkeypatch.setattr(ingest_stage, "PREVIEW_XLSX_ROWS", 2)
    wb = openpyxl.Workbook()
    for row in [HEADER, *ROWS]:
        wb.active.append(row)
    wb.save(tmp_path / "crafted.xlsx")
    insp = inspect_file(con, tmp_path / "crafted.xlsx", profile=PROFILE)
    assert (insp.rows, insp.rows_read_all, len(insp.preview)) == (3, False, 2)  # 3: the sheet's own count
    assert ingest_file(con, tmp_path / "crafted.xlsx", profile=PROFILE,
                       uploaded_by=local_operator("local")).rows_read == 3


def test_generic_guess_maps_common_names(con, tmp_path):
    path = tmp_path / "sheet.csv"
    write_csv(path, ["Ticket ID", "Summary", "Severity", "Status", "Created At", "Resolved At", "Assigned Team"],
              [["1", "a", "critical", "open", "2026-09-01 10:00", "", "Ops"]])
    insp = inspect_file(con, path)
    assert insp.detections[0].profile_name == "generic"
    assert insp.mapping["external_id"] == "Ticket ID" and insp.mapping["opened_at"] == "Created At"
    assert insp.mapping["severity"] == "Severity" and insp.mapping["team"] == "Assigned Team"
    r = ingest_file(con, path, uploaded_by=local_operator("local"))
    assert r.tickets_inserted == 1


def test_missing_required_column_is_a_clear_error(con, tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, ["foo", "bar"], [["1", "2"]])
    before = snapshot(con)
    with pytest.raises(IngestError, match=r"x\.csv: the profile 'crafted' needs columns this file lacks"):
        ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))
    assert snapshot(con) == before


def test_unparseable_timestamp_column_is_refused(con, tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, HEADER, [["A", "t", "P1", "Open", "yesterday", "", "X"]])
    with pytest.raises(IngestError, match="no value of column 'Created'"):
        ingest_file(con, path, profile=PROFILE, uploaded_by=local_operator("local"))


AUTO = parse_profile(PROFILE.to_toml().replace('format = "%Y-%m-%d %H:%M"', 'format = "auto"'))


def _iso_rows(n: int, bad: dict[int, str]) -> list[list[str]]:
    """n tickets whose Resolved column is ISO 8601, row r (1-based) holding bad[r] instead."""
    return [[f"T-{r}", "t", "P2", "Resolved", f"2026-09-07 {r % 24:02d}:00",
             bad.get(r, f"2026-09-09 {r % 24:02d}:10:23"), "X"] for r in range(1, n + 1)]


@pytest.mark.parametrize("row", [3, 1_900])
def test_one_bad_timestamp_is_a_rejected_row_wherever_it_is(con, tmp_path, row):
    """The format is the one most sampled values read in; a TBD among them (in the sample at
    row 3, outside it at row 1,900) is a rejected row with its reason, not a refused file."""
    path = tmp_path / "tbd.csv"
    write_csv(path, HEADER, _iso_rows(2_000, {row: "TBD"}))
    r = ingest_file(con, path, profile=AUTO, uploaded_by=local_operator("local"))
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (2_000, 1_999, 1)
    assert rejects(con, r.dataset_id)[["row_number", "reason"]].values.tolist() == [
        [row, "column 'Resolved': 'TBD' is not a timestamp in format ISO 8601"]]
    guess = inspect_file(con, path, profile=AUTO).timestamps
    resolved = next(g for g in guess if g.field == "resolved_at")
    assert resolved.format == "iso" and "TBD" not in resolved.examples
    if row == 3:  # in the file's head, so in the sample
        assert resolved.unparsed == ["TBD"]


@pytest.mark.parametrize("values, fmt", [
    (["2026-09-09 03:10:23", "TBD", "2026-09-10 04:00:00"], "iso"),
    (["13/10/2026 09:00", "TBD", "14/10/2026 10:00"], "%d/%m/%Y %H:%M"),
])
def test_the_format_is_the_one_most_sampled_values_read_in(con, values, fmt):
    g = guess_format(con.cursor(), values, "resolved_at", "Resolved")
    assert (g.format, g.parsed, g.total) == (fmt, 2, 3)
    assert (g.examples, g.unparsed) == ([values[0], values[2]], ["TBD"])


def test_a_column_no_sampled_value_reads_is_refused_quoting_one_of_them(con, tmp_path):
    path = tmp_path / "tbd.csv"
    write_csv(path, HEADER, _iso_rows(3, {1: "TBD", 2: "soon", 3: "TBD"}))
    before = snapshot(con)
    with pytest.raises(IngestError) as err:
        ingest_file(con, path, profile=AUTO, uploaded_by=local_operator("local"))
    msg = str(err.value)
    assert msg.startswith("tbd.csv: no value of column 'Resolved' (for resolved_at) reads as a timestamp in format iso")
    assert "e.g. 'TBD'" in msg or "e.g. 'soon'" in msg
    assert snapshot(con) == before


def test_unknown_time_zone_is_refused(con, crafted):
    with pytest.raises(IngestError, match="unknown time zone 'Mars/Olympus'"):
        ingest_file(con, crafted, profile=PROFILE, tz="Mars/Olympus", uploaded_by=local_operator("local"))


def test_delete_dataset_removes_its_tickets(con, crafted):
    r = ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    assert delete_dataset(con, r.dataset_id, actor=local_operator("local")) == 3
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(0,)]
    assert list_datasets(con).empty


def test_identifiers_are_quoted():
    assert transform.qident('we"ird') == '"we""ird"'


def test_generic_guess_reads_short_names(con, tmp_path):
    path = tmp_path / "short.csv"
    write_csv(path, ["Key", "Summary", "Prio", "State", "Opened"], [["K-1", "x", "High", "Done", "2026-09-01 10:00"]])
    insp = inspect_file(con, path)
    assert {f: insp.mapping.get(f) for f in ("external_id", "title", "severity", "status", "opened_at")} == {
        "external_id": "Key", "title": "Summary", "severity": "Prio", "status": "State", "opened_at": "Opened"}


BAD_FILES = [
    ("truncated.csv", b"Ticket ID,Title,Priority,Status,Created,Resolved,Team\nT-1,a,P1,Open,2026-09-07 09:00,,X\nT-2,b,P", "line 3"),
    ("binary.csv", bytes(range(256)) * 40, "binary"),
    ("empty.csv", b"", "the file is empty"),
    ("header-only.csv", b"Ticket ID,Title,Priority,Status,Created,Resolved,Team\n", "header but no data rows"),
    ("no-id-column.csv", b"Title,Priority,Status,Created\na,P1,Open,2026-09-07 09:00\n",
     "needs columns this file lacks"),
]


@pytest.mark.parametrize("name,content,expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_refused_and_the_store_is_unchanged(con, crafted, name, content, expected):
    ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    before = snapshot(con)
    with pytest.raises(IngestError) as err:
        ingest_file(con, data=content, name=name, profile=PROFILE, uploaded_by=local_operator("local"))
    assert str(err.value).startswith(name) and expected in str(err.value)
    assert snapshot(con) == before


def test_wrong_delimiter_is_explained_and_changes_nothing(con, crafted):
    ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    before = snapshot(con)
    piped = crafted.read_text().replace(",", "|").encode()
    with pytest.raises(IngestError, match=r"piped\.csv: only one column found .*delimiter looks like '\|'"):
        ingest_file(con, data=piped, name="piped.csv", profile=PROFILE, delimiter=",",
                    uploaded_by=local_operator("local"))
    assert snapshot(con) == before
    # Detected on its own, the same file loads.
    assert ingest_file(con, data=piped, name="piped.csv", profile=PROFILE,
                       uploaded_by=local_operator("local")).tickets_unchanged == 3


def test_file_over_the_configured_limit_is_refused(con, crafted):
    from analytics.store import db
    db.set_setting(con, "max_upload_mb", "0.0001")
    before = snapshot(con)
    with pytest.raises(IngestError, match=r"crafted\.csv: the file is .* over the .* upload limit"):
        ingest_file(con, crafted, profile=PROFILE, uploaded_by=local_operator("local"))
    assert snapshot(con) == before


@pytest.mark.parametrize("section,value,message", [
    ("severity_map", "SEV-9", "severity_map values must be one of SEV-1"),
    ("status_map", "weird", "status_map values must be one of open"),
    ("type_map", "bug", "type_map values must be one of incident"),
])
def test_profile_map_values_are_validated(section, value, message):
    from analytics.ingest.profiles import ProfileError
    with pytest.raises(ProfileError, match=message):
        parse_profile(f'[source]\nname="x"\n[columns]\nexternal_id="a"\nopened_at="b"\n[{section}]\nX="{value}"\n')


@pytest.mark.parametrize("extra_nulls", [[], [f"{c}x" for c in "abcdefghij"]], ids=["default", "many-first-chars"])
def test_null_tokens_become_missing_and_lookalikes_stay(con, tmp_path, extra_nulls):
    path = tmp_path / "nulls.csv"
    write_csv(path, ["id", "opened", "team", "title"], [
        ["1", "2026-01-01 00:00", "N/A", "New printer"],
        ["2", "2026-01-01 00:00", " n/a ", "NaNny state"],
        ["3", "2026-01-01 00:00", "?", "#N/B"],
        ["4", "2026-01-01 00:00", "None", "  padded title  "],
        ["5", "2026-01-01 00:00", "Nope", "ax"],
    ])
    tokens = ", ".join(f'"{t}"' for t in ["", "?", "N/A", "n/a", "None", "#N/B", *extra_nulls])
    profile = parse_profile(f'null_values = [{tokens}]\n[source]\nname="n"\n[columns]\nexternal_id="id"\n'
                            'opened_at="opened"\nteam="team"\ntitle="title"\n')
    ingest_file(con, path, profile=profile, uploaded_by=local_operator("local"))
    got = dict(con.execute("SELECT external_id, (team, title) FROM tickets").fetchall())
    assert [got[k][0] for k in "12345"] == [None, None, None, None, "Nope"]
    assert [got[k][1] for k in "12345"] == ["New printer", "NaNny state", None, "padded title",
                                           None if extra_nulls else "ax"]


def test_old_stores_get_numeric_change_hashes(tmp_path):
    import duckdb

    from analytics.store import db
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE TABLE tickets (ticket_id VARCHAR, row_hash VARCHAR)")
    old.execute("INSERT INTO tickets VALUES ('a:1', 'abc')")
    old.close()
    con = db.connect(path)
    # The text hash is dropped and the ticket rehashed from its stored columns (row_hash.py).
    from analytics.store import row_hash
    assert con.execute(f"SELECT typeof(row_hash), row_hash = {row_hash.ticket_sql()} FROM tickets").fetchall() \
        == [("UBIGINT", True)]
