"""The command line: ingest, tickets, demo, profiles — run in-process and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli import main
from analytics.store.schema import TICKET_COLUMNS
from tests.helpers import write_csv

REPO = Path(__file__).resolve().parent.parent
HEADER = ["number", "short_description", "priority", "state", "opened_at", "resolved_at"]


def _snow(path: Path, rows=None) -> Path:
    write_csv(path, HEADER, rows or [
        ["INC1", "Login fails", "1 - Critical", "Resolved", "2026-09-07 09:00:00", "2026-09-07 10:00:00"],
        ["INC2", "-5 widgets missing", "3 - Moderate", "In Progress", "2026-09-08 09:00:00", ""],
    ])
    return path


def test_ingest_json_and_tickets_json(tmp_path, capsys):
    f = _snow(tmp_path / "incidents.csv")
    dbp = str(tmp_path / "c.duckdb")
    assert main(["ingest", str(f), "--db", dbp, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["source"], out["rows_read"], out["tickets_inserted"]) == ("servicenow", 2, 2)
    assert main(["ingest", str(f), "--db", dbp, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["tickets_inserted"], again["tickets_updated"], again["tickets_unchanged"]) == (0, 0, 2)

    # Recurrence clusters followed the upload.
    from analytics.store import db
    con = db.connect(dbp)
    assert con.execute("SELECT count(*) FROM recurrence_signatures").fetchall()[0][0] == 2
    con.close()

    assert main(["tickets", "--db", dbp, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2 and set(TICKET_COLUMNS) <= set(records[0])
    first = next(r for r in records if r["external_id"] == "INC1")
    assert first["opened_at"] == "2026-09-07T09:00:00Z" and first["severity"] == "SEV-1"
    assert first["reopen_count"] is None or isinstance(first["reopen_count"], int)


def test_tickets_csv_neutralises_formula_like_text(tmp_path, capsysbinary):
    f = _snow(tmp_path / "incidents.csv")
    dbp = str(tmp_path / "c.duckdb")
    main(["ingest", str(f), "--db", dbp])
    capsysbinary.readouterr()
    assert main(["tickets", "--db", dbp, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))
    titles = {r["external_id"]: r["title"] for r in rows}
    assert titles["INC2"] == "'-5 widgets missing"  # a leading '-' could start a formula
    assert titles["INC1"] == "Login fails"


def test_human_output_lists_warnings(tmp_path, capsys):
    f = tmp_path / "x.csv"
    write_csv(f, HEADER, [["INC9", "t", "Whenever", "New", "5/3/2026 10:00", ""]])
    assert main(["ingest", str(f), "--db", str(tmp_path / "c.duckdb")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Loaded x.csv: 1 rows read")
    assert "unmapped severity: 'Whenever' on 1 tickets" in out
    assert "ambiguous" in out


def test_profile_by_name_and_bad_profile(tmp_path, capsys):
    f = _snow(tmp_path / "incidents.csv")
    dbp = str(tmp_path / "c.duckdb")
    assert main(["ingest", str(f), "--db", dbp, "--profile", "servicenow-incident-list"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[source]\nname = 'x'\n[columns]\nexternal_id = 'number'\n")
    assert main(["ingest", str(f), "--db", dbp, "--profile", str(bad)]) == 2
    assert "layout 'tickets' needs [columns] opened_at" in capsys.readouterr().err
    assert main(["ingest", str(f), "--db", dbp, "--profile", "no-such-profile"]) == 2


def test_profiles_and_demo(tmp_path, capsys):
    assert main(["profiles"]) == 0
    assert "servicenow-event-log" in capsys.readouterr().out
    assert main(["demo", "--tickets", "300", "--db", str(tmp_path / "d.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "300 inserted" in out


@pytest.mark.parametrize("content,reason", [  # each a subprocess: the first in the quick run, all in --all
    (b"", "the file is empty"),
    pytest.param(b"\x00\x01\x02\x03binary\x00" * 50, "binary", marks=pytest.mark.slow),
    pytest.param(b"number,short_description,priority,state,opened_at\n", "header but no data rows",
                 marks=pytest.mark.slow),
])
def test_unreadable_file_exits_non_zero_with_one_line(tmp_path, content, reason):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "analytics", "ingest", str(f), "--db", str(tmp_path / "c.duckdb")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad.csv") and reason in lines[0]


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_help_lists_the_commands():
    proc = subprocess.run([sys.executable, "-m", "analytics", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    for command in ("ingest", "tickets", "demo"):
        assert command in proc.stdout
