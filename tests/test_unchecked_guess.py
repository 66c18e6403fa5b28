"""Loading without a person (CLI, scripts): a mapping that had to invent the ticket id or the
opened time is refused with the closest profile named, never loaded at a guess."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from analytics.cli import main as cli
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.stage import IngestError
from analytics.store.auth import local_operator

SAMPLE = Path(__file__).parent / "fixtures" / "servicenow_event_log_sample.csv"


def _without(column: str) -> bytes:
    rows = list(csv.reader(SAMPLE.open(encoding="utf-8")))
    keep = [i for i, c in enumerate(rows[0]) if c != column]
    out = io.StringIO()
    csv.writer(out).writerows([[r[i] for i in keep] for r in rows])
    return out.getvalue().encode()


def test_a_servicenow_log_without_its_id_is_refused_naming_the_closest_profile(con):
    before = con.execute("SELECT count(*) FROM tickets").fetchall()
    with pytest.raises(IngestError) as err:
        ingest_file(con, data=_without("number"), name="log.csv", uploaded_by=local_operator("local"))
    text = str(err.value)
    assert text.startswith("log.csv: no profile fits") and "external_id" in text
    assert "'servicenow-event-log'" in text and "'number'" in text and "--profile" in text
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == before


def test_a_file_without_an_opened_time_is_refused(con):
    with pytest.raises(IngestError, match="named like opened_at"):
        ingest_file(con, data=b"ticket_id,title,colour\nT-1,Login fails,blue\n", name="x.csv",
                    uploaded_by=local_operator("local"))


def test_the_cli_exits_non_zero_with_one_line(tmp_path, capsys):
    path = tmp_path / "log.csv"
    path.write_bytes(_without("number"))
    assert cli(["ingest", str(path), "--db", str(tmp_path / "s.duckdb")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: log.csv: no profile fits")


def test_a_file_with_named_columns_still_loads_by_the_generic_guess(con):
    data = b"ticket_id,title,created_at,priority\nT-1,Login fails,2026-09-08 10:00,High\n"
    result = ingest_file(con, data=data, name="plain.csv", uploaded_by=local_operator("local"))
    assert result.profile_name == "generic" and result.tickets_inserted == 1
