"""CSV downloads never hand a spreadsheet a formula (OWASP CSV injection)."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.store.auth import local_operator
from analytics.store.csv_export import neutralise_cell, to_csv_bytes


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+1", "'=1+1"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("Login fails", "Login fails"),
        (" =not first", " =not first"),
        ("a=b", "a=b"),
        ("", ""),
        ("'already", "'already"),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return", "hyperlink", "plain",
         "leading-space", "inner-equals", "empty", "quoted", "negative-int", "float", "none"],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def _read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def test_to_csv_bytes_prefixes_formula_cells_only():
    df = pd.DataFrame({
        "title": ["=cmd|' /C calc'!A0", "normal", "@me", None],
        "count": [-1, 2, 3, 4],
        "opened_at": [datetime(2026, 9, 7, 10)] * 4,
    })
    out = _read(to_csv_bytes(df))
    assert list(out["title"]) == ["'=cmd|' /C calc'!A0", "normal", "'@me", ""]
    assert list(out["count"]) == ["-1", "2", "3", "4"]  # numbers stay numbers
    assert out["opened_at"][0] == "2026-09-07 10:00:00"
    assert "index" not in out.columns and list(out.columns) == ["title", "count", "opened_at"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["=x", "y"], dtype=object),
        pd.Series(["=x", "y"], dtype="string"),
        pd.Series(["=x", "y"], dtype="str"),
        pd.Series(["=x", "y"], dtype="category"),
        pd.Series(["=x", 7], dtype=object),
    ],
    ids=["object", "string", "str", "category", "mixed"],
)
def test_every_text_dtype_is_covered(column: pd.Series):
    out = _read(to_csv_bytes(pd.DataFrame({"c": column})))
    assert out["c"][0] == "'=x"


def test_header_cells_are_neutralised_too():
    out = _read(to_csv_bytes(pd.DataFrame({"=SUM(A1)": [1], "ok": [2]})))
    assert list(out.columns) == ["'=SUM(A1)", "ok"]


def test_input_frame_is_not_modified():
    df = pd.DataFrame({"t": ["=x"]})
    to_csv_bytes(df)
    assert df["t"][0] == "=x"


def test_utf8_quotes_and_newlines_survive():
    df = pd.DataFrame({"t": ['Zürich "quoted", text', "two\nlines", "-"], "n": [1.5, np.nan, 0]})
    data = to_csv_bytes(df)
    assert data.decode("utf-8")
    out = _read(data)
    assert list(out["t"]) == ['Zürich "quoted", text', "two\nlines", "'-"]
    assert list(out["n"]) == ["1.5", "", "0.0"]


def test_empty_frame():
    assert to_csv_bytes(pd.DataFrame({"a": []})) == b"a\r\n"


@pytest.mark.parametrize("title", ["VPN slow\r@SUM(1+1)*cmd|' /C calc'!A0", "VPN slow\r\n=1+1",
                                   "VPN slow\n+1+1"])
def test_a_line_break_inside_a_cell_stays_inside_its_quoted_cell(title):
    data = to_csv_bytes(pd.DataFrame({"title": [title, "next"], "n": [1, 2]}))
    import csv
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows == [["title", "n"], [title, "1"], ["next", "2"]]
    # Every record starts a physical line with a header cell, a quote or plain data: the
    # break inside the title is inside quotes.
    assert f'"{title}",1'.encode() in data


def test_an_exported_title_with_a_carriage_return_loads_again(con, tmp_path):
    import json

    from analytics.ingest.pipeline import ingest_file
    from analytics.ingest.tickets_export import tickets_frame
    from analytics.store import db

    title = "VPN slow\r@SUM(1+1)*cmd|' /C calc'!A0"
    rows = [{"external_id": "A-1", "title": title, "severity": "SEV-2", "status": "Open",
             "opened_at": "2026-09-08T10:00:00Z"},
            {"external_id": "A-2", "title": "ok", "severity": "SEV-3", "status": "Open",
             "opened_at": "2026-09-08T11:00:00Z"}]
    ingest_file(con, data="\n".join(json.dumps(r) for r in rows).encode(), name="x.jsonl",
                uploaded_by=local_operator("local"))
    again = db.connect(tmp_path / "again.duckdb")
    try:
        result = ingest_file(again, data=to_csv_bytes(tickets_frame(con)), name="export.csv",
                             uploaded_by=local_operator("local"))
        assert result.rows_read == result.rows_loaded == 2
        assert again.execute("SELECT title FROM tickets ORDER BY external_id").fetchall()[0][0] == title
    finally:
        again.close()
