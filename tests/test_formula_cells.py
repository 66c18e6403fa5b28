"""Formula-like text (issue #14 item 3, OWASP CSV injection): stored as it is, flagged, and
neutralised on every way out — CLI CSVs, the report's CSV and XLSX packs, the PDF."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile
from datetime import datetime

import duckdb
import openpyxl
import pytest

from analytics.cli import main
from analytics.store.csv_export import FORMULA_FIRST_CHARS
from tests import fuzz_files
from tests.helpers import write_csv
from tests.test_readers import FORMULAS as READER_FORMULAS

# Every formula payload of the fuzz suite and of the reader's tests, once each.
PAYLOADS = list(dict.fromkeys([*fuzz_files.FORMULAS.values(), *READER_FORMULAS]))
TEXT_FIELDS = ("title", "service", "component", "category", "team", "assignee", "root_cause")
HEADER = ["external_id", "type", "severity", "status", "opened_at", "acknowledged_at", "resolved_at", *TEXT_FIELDS]


def _cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One canonical tickets file holding every payload in every text field (one ticket each),
    plus plain tickets for the report's charts; returns (store path, the ingest result)."""
    work = tmp_path_factory.mktemp("formulas")
    rows = []
    for i, payload in enumerate(PAYLOADS + ["Login fails"] * 3):
        day = 7 + i % 20
        kind = "defect" if i % 3 == 0 else "incident"
        rows.append([f"F-{i:03d}", kind, f"SEV-{1 + i % 4}", "Resolved", f"2026-09-{day:02d} 09:00:00",
                     f"2026-09-{day:02d} 09:20:00", f"2026-09-{day:02d} 15:00:00",
                     *[_cell(payload)] * len(TEXT_FIELDS)])
    path = work / "tickets.csv"
    write_csv(path, HEADER, rows)
    db = str(work / "s.duckdb")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["ingest", str(path), "--db", db, "--profile", "hypercare-tickets", "--json"]) == 0
    return db, json.loads(out.getvalue())


def _formula_cells(records) -> list[str]:
    return [c for rec in records for c in rec if isinstance(c, str) and c.startswith(FORMULA_FIRST_CHARS)]


def _run_csv(argv: list[str], capsysbinary) -> list[list[str]]:
    capsysbinary.readouterr()
    assert main(argv) == 0
    return list(csv.reader(io.StringIO(capsysbinary.readouterr().out.decode("utf-8"), newline="")))


def test_every_payload_loads_as_it_is_and_is_counted(store):
    db, result = store
    assert result["rows_rejected"] == 0 and result["rows_loaded"] == len(PAYLOADS) + 3
    assert result["formula_cells"] == {f: len(PAYLOADS) for f in TEXT_FIELDS}
    con = duckdb.connect(db, read_only=True)
    try:
        stored = con.execute(f"SELECT {', '.join(TEXT_FIELDS)} FROM tickets WHERE external_id < ? ORDER BY external_id",
                             [f"F-{len(PAYLOADS):03d}"]).fetchall()
        flagged = con.execute("SELECT formula_cells FROM datasets").fetchall()
    finally:
        con.close()
    assert stored == [(p,) * len(TEXT_FIELDS) for p in PAYLOADS]  # byte for byte, not trimmed or prefixed
    assert flagged == [(len(PAYLOADS) * len(TEXT_FIELDS),)]


def test_tickets_csv_neutralises_every_payload(store, capsysbinary):
    records = _run_csv(["tickets", "--csv", "--db", store[0]], capsysbinary)
    assert not _formula_cells(records)
    titles = {r[2]: r[4] for r in records[1:]}  # external_id -> title
    assert [titles[f"F-{i:03d}"] for i in range(len(PAYLOADS))] == ["'" + p for p in PAYLOADS]


def test_sla_csv_holds_no_formula(store, capsysbinary):
    # Its text columns are ids, codes and the policy's name: a payload could only get there by a
    # profile label or a policy name, both neutralised like any other text.
    records = _run_csv(["sla", "--csv", "--db", store[0], "--as-of", "2026-10-01T00:00:00Z"], capsysbinary)
    assert len(records) == len(PAYLOADS) + 3 + 1 and not _formula_cells(records)


@pytest.mark.slow
def test_report_packs_neutralise_every_payload(store, tmp_path, capsys):
    db = store[0]
    pack, book = tmp_path / "pack.zip", tmp_path / "pack.xlsx"
    for out in (pack, book):
        assert main(["report", "--db", db, "--month", "2026-09", "--as-of", "2026-10-01T00:00:00Z",
                     "--out", str(out)]) == 0
    shown = set()
    with zipfile.ZipFile(pack) as z:
        for name in z.namelist():
            records = list(csv.reader(io.StringIO(z.read(name).decode("utf-8"), newline="")))
            assert not _formula_cells(records), name
            shown |= {c for rec in records for c in rec}
    assert shown & {"'" + p for p in PAYLOADS}, "no payload reached the pack: the test checks nothing"
    cells = [c for ws in openpyxl.load_workbook(book).worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert not _formula_cells([[c.value for c in cells]])
    assert {c.value for c in cells} & {"'" + p for p in PAYLOADS}


@pytest.mark.slow
def test_report_pdf_draws_payloads_as_text(store):
    """The PDF renders markup-free: no payload turns into a link or an action."""
    from analytics.report import builder
    from analytics.report import pdf as report_pdf
    from analytics.store import db

    con = db.connect(store[0])
    try:
        rep = builder.build(con, "2026-09", as_of=datetime(2026, 10, 1))
    finally:
        con.close()
    pdf = report_pdf.render(rep)
    assert pdf.startswith(b"%PDF") and b"/URI" not in pdf and b"/Launch" not in pdf


def test_a_real_export_with_dashes_and_pluses_loads_and_exports_neutralised(tmp_path, capsysbinary):
    """A ServiceNow list whose descriptions start with '-' or '+' is not refused as a whole."""
    path = tmp_path / "incidents.csv"
    write_csv(path, ["number", "short_description", "priority", "state", "opened_at", "resolved_at"], [
        ["INC1", "- printer jammed", "3 - Moderate", "New", "2026-09-07 09:00:00", ""],
        ["INC2", "+ escalate to vendor", "2 - High", "Resolved", "2026-09-07 10:00:00", "2026-09-07 12:00:00"],
        ["INC3", "Login fails", "1 - Critical", "Resolved", "2026-09-07 11:00:00", "2026-09-07 11:30:00"],
    ])
    db = str(tmp_path / "s.duckdb")
    assert main(["ingest", str(path), "--db", db]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert "3 rows read · 3 loaded · 0 rejected" in out
    assert "warning: 2 cells in column 'short_description' start like a spreadsheet formula" in out
    records = _run_csv(["tickets", "--csv", "--db", db], capsysbinary)
    titles = {r[2]: r[4] for r in records[1:]}
    assert titles == {"INC1": "'- printer jammed", "INC2": "'+ escalate to vendor", "INC3": "Login fails"}
    assert not _formula_cells(records)
