"""analytics.ingest.readers: one upload -> a TEMP table of text columns, or one clear FileRejected."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json

import duckdb
import pytest

from analytics.ingest import readers
from analytics.ingest.file_limits import FileRejected
from analytics.ingest.readers import load_raw, load_raw_path, read_bytes, sniff


@pytest.fixture
def cur():
    con = duckdb.connect()
    yield con.cursor()
    con.close()


def leftovers(cur) -> list[str]:
    """Every table, sequence and view the loader could have left on the connection."""
    return [r[0] for r in cur.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT sequence_name FROM duckdb_sequences() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()]


def rows_of(cur, raw) -> list[tuple]:
    return cur.execute(f'SELECT * EXCLUDE (__row) FROM "{raw.table}" ORDER BY __row').fetchall()


def rejected(cur, name: str, data: bytes, **kw) -> str:
    """The FileRejected message; also asserts nothing was left behind."""
    with pytest.raises(FileRejected) as info:
        load_raw(cur, name, data, table="raw", **kw)
    assert leftovers(cur) == []
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(name)
    return msg


# --- encodings, delimiters, compression --------------------------------------------------------

TEXT = "id,title\n1,Café costs €5\n2,naïve “quote”\n"


@pytest.mark.parametrize("data, label", [
    (TEXT.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("utf-16"), "utf-16"),  # little-endian with BOM
    (b"\xfe\xff" + TEXT.encode("utf-16-be"), "utf-16"),
    (TEXT.encode("utf-16-le"), "utf-16"),  # BOM-less, as some Windows tools write it
    (TEXT.encode("cp1252"), "cp1252"),
], ids=["utf-8", "bom", "utf-16-le", "utf-16-be", "utf-16-no-bom", "cp1252"])
def test_encodings_decode_to_the_same_text(cur, data, label):
    raw = load_raw(cur, "t.csv", data, table="raw")
    assert (raw.encoding, raw.columns, raw.rows) == (label, ["id", "title"], 2)
    assert rows_of(cur, raw) == [("1", "Café costs €5"), ("2", "naïve “quote”")]


def test_cp1252_found_after_an_ascii_head_falls_back(cur):
    data = ("id,title\n" + "".join(f"{i},plain ascii row\n" for i in range(5000)) + "5000,café €\n").encode("cp1252")
    assert len(data) > 64 * 1024
    raw = load_raw(cur, "late.csv", data, table="raw")
    assert raw.encoding == "cp1252" and raw.rows == 5001
    assert rows_of(cur, raw)[-1] == ("5000", "café €")


def test_invalid_utf8_in_a_utf8_file_is_refused_with_its_line(cur):
    data = ("id,title\n1,déjà vu\n" + "".join(f"{i},x\n" for i in range(2, 20000))).encode() + b"20000,caf\xe9\n"
    msg = rejected(cur, "mixed.csv", data)
    assert msg.startswith("mixed.csv, line 20001: the text is not valid UTF-8")
    assert "choose the encoding" in msg


def test_encoding_override(cur):
    raw = load_raw(cur, "t.csv", "a,b\n1,é\n".encode("latin-1"), table="raw", encoding="latin-1")
    assert rows_of(cur, raw) == [("1", "é")]
    cur.execute("DROP TABLE raw")
    assert "unknown encoding" in rejected(cur, "t.csv", b"a,b\n1,2\n", encoding="klingon")


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_delimiters_are_detected(cur, delim):
    data = delim.join(["id", "title", "team"]) + "\n" + delim.join(["1", "Login, slow", "Ops"]) + "\n"
    data = data.replace("Login, slow", '"Login, slow"') if delim == "," else data
    raw = load_raw(cur, "t.txt", data.encode(), table="raw")
    assert (raw.delimiter, raw.columns, raw.format) == (delim, ["id", "title", "team"], "csv")
    assert rows_of(cur, raw) == [("1", "Login, slow", "Ops")]


def test_delimiter_override(cur):
    raw = load_raw(cur, "t.csv", b"a;b,c\n1;2,3\n", table="raw", delimiter=";")
    assert raw.columns == ["a", "b,c"] and rows_of(cur, raw) == [("1", "2,3")]
    raw = load_raw(cur, "t.csv", b"a\tb\n1\t2\n", table="raw", delimiter="tab")
    assert raw.delimiter == "\t" and raw.columns == ["a", "b"]


@pytest.mark.parametrize("name", ["tickets.csv.gz", "export.bin"])
def test_gzip_is_recognised_by_magic_bytes(cur, name):
    data = gzip.compress("id,title\n1,é\n2,b\n".encode())
    raw = load_raw(cur, name, data, table="raw")
    assert (raw.rows, raw.format, raw.size_bytes) == (2, "csv", len(data))
    assert raw.sha256 == hashlib.sha256(data).hexdigest()  # of the bytes as uploaded, not gunzipped
    assert rows_of(cur, raw) == [("1", "é"), ("2", "b")]


def test_gzip_cp1252_is_transcoded(cur):
    raw = load_raw(cur, "w.csv.gz", gzip.compress("a;b\n1;€\n".encode("cp1252")), table="raw")
    assert (raw.encoding, raw.delimiter, rows_of(cur, raw)) == ("cp1252", ";", [("1", "€")])


def test_load_raw_path_reads_the_file_in_place(cur, tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    raw = load_raw_path(cur, path, table="raw")
    assert (raw.name, raw.rows, raw.sha256) == ("t.csv.gz", 1, hashlib.sha256(path.read_bytes()).hexdigest())
    assert load_raw_path(cur, path, table="raw2", name="shown.csv.gz").name == "shown.csv.gz"


# --- CSV structure ----------------------------------------------------------------------------

def test_quoted_newlines_commas_and_quotes(cur):
    data = (b'id,body,status\r\n1,"line one\r\nline two, with comma",open\r\n'
            b'2,"she said ""hi""",closed\r\n3,,""\r\n')
    raw = load_raw(cur, "updates.csv", data, table="raw")
    assert rows_of(cur, raw) == [
        ("1", "line one\r\nline two, with comma", "open"),
        ("2", 'she said "hi"', "closed"),
        ("3", None, None),  # empty and "" cells are both NULL
    ]


def test_duplicate_and_blank_headers_get_unique_names(cur):
    raw = load_raw(cur, "h.csv", b"Case ID,Variant,Variant,,id,ID,__row\n1,a,b,c,d,e,f\n", table="raw")
    assert raw.columns == ["Case ID", "Variant", "Variant_1", "column3", "id", "ID_1", "__row_1"]
    assert [d[0] for d in cur.execute("SELECT * FROM raw").description] == [*raw.columns, "__row"]
    assert cur.execute("SELECT Variant_1, __row FROM raw").fetchall() == [("b", 1)]


def test_all_columns_are_text_exactly_as_written(cur):
    raw = load_raw(cur, "t.csv", b"n,when,flag,pad\n007,29/2/2016 01:16,true, x \n", table="raw")
    types = {r[0]: r[1] for r in cur.execute("DESCRIBE raw").fetchall()}
    assert types == {"n": "VARCHAR", "when": "VARCHAR", "flag": "VARCHAR", "pad": "VARCHAR", "__row": "BIGINT"}
    assert rows_of(cur, raw) == [("007", "29/2/2016 01:16", "true", " x ")]


def test_row_numbers_follow_file_order_on_a_large_file(cur, tmp_path):
    n = 150_000
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as f:
        f.write("id,text,team\n")
        for i in range(1, n + 1):
            f.write(f'{i},"row {i}\nsecond line",team {i % 7}\n' if i % 1000 == 0 else f"{i},row {i},team {i % 7}\n")
    raw = load_raw_path(cur, path, table="raw")
    assert raw.rows == n
    assert cur.execute("SELECT count(*), min(__row), max(__row) FROM raw WHERE id::BIGINT = __row").fetchall() == [(n, 1, n)]
    # and the table's own order is file order, so an unordered scan agrees too
    assert cur.execute("SELECT list(id::BIGINT) = list(__row) FROM raw").fetchall() == [(True,)]


def test_row_order_holds_even_if_the_connection_disabled_it(cur):
    cur.execute("SET preserve_insertion_order = false")
    data = ("id\n" + "".join(f"{i}\n" for i in range(1, 50_001))).encode()
    load_raw(cur, "t.csv", data, table="raw")
    assert cur.execute("SELECT count(*) FROM raw WHERE id::BIGINT <> __row").fetchall() == [(0,)]
    assert cur.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(False,)]


def test_excel_sep_line_sets_the_delimiter(cur):
    raw = load_raw(cur, "excel.csv", b"sep=;\r\nid;title\r\n1;a,b\r\n2;c\r\n", table="raw")
    assert (raw.delimiter, raw.columns, rows_of(cur, raw)) == (";", ["id", "title"], [("1", "a,b"), ("2", "c")])
    cur.execute("DROP TABLE raw")
    msg = rejected(cur, "excel.csv", b"sep=;\nid;title\n1;a\n3\n")
    assert msg.startswith("excel.csv, line 4: expected 2 fields, found 1")


def test_unknown_extension_with_text_is_read_as_csv(cur):
    raw = load_raw(cur, "export.dat", b"a|b\n1|2\n", table="raw")
    assert (raw.format, raw.delimiter, raw.rows) == ("csv", "|", 1)


# --- XLSX and JSON -----------------------------------------------------------------------------

def xlsx_bytes(rows: list[list]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_first_sheet_as_text(cur):
    data = xlsx_bytes([
        ["Number", "Opened", "Count", "Ratio", "Active", "Note", "Number"],
        ["INC1", dt.datetime(2024, 3, 1, 9, 30, 5), 3, 0.1 + 0.2, True, None, "x"],
        [None] * 7,  # a blank row is skipped
        ["INC2", dt.datetime(2024, 3, 2), 4.0, 2.5, False, "ok", "y"],
    ])
    raw = load_raw(cur, "tickets.xlsx", data, table="raw")
    assert (raw.format, raw.delimiter, raw.rows) == ("xlsx", None, 2)
    assert raw.columns == ["Number", "Opened", "Count", "Ratio", "Active", "Note", "Number_1"]
    assert rows_of(cur, raw) == [
        ("INC1", "2024-03-01 09:30:05", "3", "0.3", "TRUE", None, "x"),
        ("INC2", "2024-03-02 00:00:00", "4", "2.5", "FALSE", "ok", "y"),
    ]


def test_json_array_nested_values_become_json_text(cur):
    data = json.dumps([
        {"id": "a1", "impact": "minor", "components": ["API", "Git"], "n": 3, "ok": True, "x": None},
        {"id": "a2", "impact": "", "extra": {"k": "v"}},
    ]).encode()
    raw = load_raw(cur, "inc.json", data, table="raw")
    assert (raw.format, raw.columns) == ("json", ["id", "impact", "components", "n", "ok", "x", "extra"])
    assert rows_of(cur, raw) == [
        ("a1", "minor", '["API", "Git"]', "3", "true", None, None),
        ("a2", None, None, None, None, None, '{"k": "v"}'),
    ]


def test_json_object_with_a_list_of_records(cur):
    data = json.dumps({"meta": {"count": 2}, "tags": ["x"], "incidents": [{"id": 1}, {"id": 2}]}).encode()
    raw = load_raw(cur, "inc.json", data, table="raw")
    assert (raw.columns, rows_of(cur, raw)) == (["id"], [("1",), ("2",)])


@pytest.mark.parametrize("name", ["inc.jsonl", "inc.jsonl.gz", "inc.json"])
def test_json_lines(cur, name):
    data = b'{"id": "a", "page": {"n": 1}}\n\n{"id": "b", "status": "resolved"}\n'
    raw = load_raw(cur, name, gzip.compress(data) if name.endswith(".gz") else data, table="raw")
    assert (raw.format, raw.rows, raw.columns) == ("jsonl", 2, ["id", "page", "status"])
    assert rows_of(cur, raw) == [("a", '{"n": 1}', None), ("b", None, "resolved")]


# --- whole-file rejections -------------------------------------------------------------------

@pytest.mark.parametrize("name, data, expected", [
    ("x.csv", b"", "x.csv: the file is empty"),
    ("x.csv", b"  \n\r\n\t\n", "x.csv: the file is empty"),
    ("x.csv.gz", gzip.compress(b"\n\n"), "x.csv.gz: the file is empty"),
    ("x.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
     "x.bin: this is not a text export (binary content); upload CSV, CSV.GZ, XLSX, JSON or JSONL"),
    ("x.csv", b"id,title,team\n", "x.csv: the file has a header but no data rows"),
    ("x.csv", b"id,title,team\r\n\r\n", "x.csv: the file has a header but no data rows"),
    ("x.xlsx", b"PK\x03\x04 not really a zip", "x.xlsx: cannot read this Excel file (BadZipFile"),
    ("x.xlsx", b"id,title\n1,2\n", "x.xlsx: cannot read this Excel file"),
    ("x.json", b'[{"id": 1},', "x.json, line 1: invalid JSON (Expecting"),
    ("x.json", b'{"a": 1}', "x.json: no list of records found"),
    ("x.json", b"[]", "x.json: the file contains no records"),
    ("x.json", b"[1, 2]", "x.json: record 1 is not an object (int)"),
    ("x.jsonl", b'{"id": 1}\n{"id": 2\n', "x.jsonl, line 2: invalid JSON (Expecting ',' delimiter, column 9)"),
    ("x.jsonl", b'{"id": 1}\n[1]\n', "x.jsonl, line 2: expected one JSON object per line"),
], ids=["zero-bytes", "whitespace", "gz-whitespace", "binary", "header-only", "header-blank-lines",
        "bad-zip", "xlsx-not-zip", "json-cut", "json-no-list", "json-empty", "json-not-objects",
        "jsonl-bad-line", "jsonl-not-object"])
def test_whole_file_rejections(cur, name, data, expected):
    assert rejected(cur, name, data).startswith(expected)


def test_xlsx_header_only_and_empty_sheet(cur):
    assert rejected(cur, "h.xlsx", xlsx_bytes([["id", "title"]])) == "h.xlsx: the file has a header but no data rows"
    assert rejected(cur, "e.xlsx", xlsx_bytes([])) == "e.xlsx: the file is empty"


def test_over_the_upload_limit(cur, tmp_path):
    data = b"a,b\n" + b"1,2\n" * 3_225_000  # 12.3 MB
    msg = rejected(cur, "x.csv", data, max_bytes=10 * 1024 * 1024)
    assert msg == "x.csv: the file is 12.3 MB, over the 10.0 MB upload limit (HYPERCARE_MAX_UPLOAD_MB)"
    (tmp_path / "x.csv").write_bytes(data)
    with pytest.raises(FileRejected, match=r"^x\.csv: the file is 12\.3 MB"):
        load_raw_path(cur, tmp_path / "x.csv", table="raw", max_bytes=10 * 1024 * 1024)


def body(n: int, width: int = 16) -> str:
    return "".join(",".join(f"r{i}c{j}" for j in range(width)) + "\n" for i in range(n))


def test_truncated_last_row_names_its_line(cur):
    header = ",".join(f"h{j}" for j in range(16)) + "\n"
    data = (header + body(1041) + "x1,x2,x3,x4,x5,x6,x7,x8,x9").encode()
    assert rejected(cur, "x.csv", data) == (
        "x.csv, line 1043: expected 16 fields, found 9 — the file looks truncated or has a stray delimiter")


def test_line_numbers_are_physical_lines_after_quoted_newlines(cur):
    data = b'id,body,s\n1,"a\nb\nc",x\n2,y\n3,z,w\n'  # the bad record starts on line 5
    assert rejected(cur, "x.csv", data).startswith("x.csv, line 5: expected 3 fields, found 2")


def test_many_bad_lines_list_three_and_count_all(cur):
    lines = ["a,b,c"] + [("1,2" if i % 100 == 0 else "1,2,3") for i in range(1, 1001)]
    msg = rejected(cur, "x.csv", "\n".join(lines).encode() + b"\n")
    assert msg == ("x.csv, line 101: expected 3 fields, found 2; line 201: expected 3 fields, found 2; "
                   "line 301: expected 3 fields, found 2; 10 bad lines in total — the file looks truncated "
                   "or has a stray delimiter")


def test_too_many_fields_and_gzip_line_numbers(cur):
    data = gzip.compress(("a,b\n" + "1,2\n" * 5000 + "1,2,3\n").encode())
    assert rejected(cur, "x.csv.gz", data).startswith("x.csv.gz, line 5002: expected 2 fields, found 3")


@pytest.mark.parametrize("data, line", [
    (b'a,b\n1,2\n3,"never closed\n4,5\n', 3),
    (b'a,b\n1,2\n3,"cut mid-value', 3),
    (b'a,b\n1,2\n3,4\n5,"text"after\n', 4),
], ids=["never-closed", "cut", "text-after-quote"])
def test_unterminated_quote(cur, data, line):
    assert rejected(cur, "x.csv", data) == (
        f"x.csv, line {line}: a quoted value is never closed, or text follows its closing quote — the file "
        "looks truncated or has a stray quote")


def test_unterminated_quote_in_cp1252_file(cur):
    msg = rejected(cur, "x.csv", 'a;b\n1;€\n3;"never closed\n'.encode("cp1252"))
    assert msg.startswith("x.csv, line 3: a quoted value is never closed")


def test_wrong_delimiter_given_by_the_user(cur):
    assert rejected(cur, "x.csv", b"a;b;c\n1;2;3\n", delimiter=",") == (
        "x.csv: only one column found ('a;b;c'); the delimiter looks like ';' — choose it on the "
        "Upload page or with --delimiter")
    assert "the delimiter looks like tab" in rejected(cur, "x.csv", b"a\tb\n1\t2\n", delimiter=";")


def test_a_genuine_single_column_file_loads(cur):
    raw = load_raw(cur, "ids.csv", b"id\nINC1\nINC2\n", table="raw")
    assert (raw.columns, raw.rows) == (["id"], 2)


# --- spreadsheet formulas: stored as they are, counted per column -----------------------------

# OWASP's rule (analytics/csv_export.FORMULA_START): the first character is = + - @ tab or CR.
FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "@SUM(A1)", "+SUM(1)", "=A1",
            "-2+3+cmd|' /C calc'!A0", "= SUM(1)", "-cmd|' /C calc'!A0", "=+HYPERLINK(\"http://x\")",
            "=-HYPERLINK(\"http://x\")", "\t=1+1", "@A1", "+1+1", "-2+3", "- printer jammed", "-5", "+31 20 555",
            "-", "=", "\r=1+1"]
NOT_FORMULAS = ["printer jammed", " =1+1", "a=b", "email@host", "'=already quoted", "5-2", "(=x)", "\n=1+1"]


def test_formula_cells_load_as_they_are_and_are_counted_per_column(cur):
    """OWASP: store the text, flag it, neutralise it on the way out; never refuse the file for it."""
    values = FORMULAS + NOT_FORMULAS
    quoted = ['"' + v.replace('"', '""') + '"' for v in values]
    data = ("id,title,team\n" + "".join(f"{i},{q},{'+ops' if i == 1 else 'ops'}\n"
                                         for i, q in enumerate(quoted, 1))).encode()
    raw = load_raw(cur, "x.csv", data, table="raw")
    assert raw.rows == len(values)
    assert [r[1] for r in rows_of(cur, raw)] == values  # byte for byte
    assert raw.formula_cells == {"title": len(FORMULAS), "team": 1}


def test_a_file_without_formula_cells_counts_none(cur):
    assert load_raw(cur, "ok.csv", b"id,v\n1,printer jammed\n2,\n", table="raw").formula_cells == {}


def test_formula_cells_in_xlsx_and_json_are_counted_too(cur):
    assert load_raw(cur, "f.xlsx", xlsx_bytes([["id", "total"], ["a", "=SUM(1,2)"]]), table="a").formula_cells == {
        "total": 1}
    assert load_raw(cur, "f.jsonl", b'{"title": "ok"}\n{"title": "@SUM(A1)"}\n', table="b").formula_cells == {
        "title": 1}


# --- behaviour around the table --------------------------------------------------------------

def test_a_rejection_leaves_unrelated_tables_alone(cur):
    cur.execute("CREATE TEMP TABLE keep AS SELECT 1 AS x")
    with pytest.raises(FileRejected):
        load_raw(cur, "x.csv", b"a,b\n1\n", table="raw")
    assert leftovers(cur) == ["keep"]


def test_reloading_into_the_same_table_replaces_it(cur):
    load_raw(cur, "a.csv", b"a\n1\n2\n", table="raw")
    raw = load_raw(cur, "b.csv", b"b\n3\n", table="raw")
    assert rows_of(cur, raw) == [("3",)] and leftovers(cur) == ["raw"]


def test_sniff_reads_the_head_only(cur):
    big = b"id;title\n" + b"1;x\n" * 100_000 + b"2;broken\n\x00"
    assert sniff("t.csv", big) == {"format": "csv", "encoding": "utf-8", "delimiter": ";", "columns": ["id", "title"]}
    assert sniff("t.csv", "a,b\n1,é\n".encode("cp1252"))["encoding"] == "cp1252"
    assert sniff("t.csv", b"a;b,c\n1;2,3\n", delimiter=";")["columns"] == ["a", "b,c"]
    assert sniff("t.xlsx", xlsx_bytes([["A", "B", "A"], [1, 2, 3]]))["columns"] == ["A", "B", "A_1"]
    assert sniff("t.json", b'{"items": [{"k": 1}]}')["columns"] == ["k"]
    with pytest.raises(FileRejected, match="binary content"):
        sniff("t.bin", b"\x00\x01\x02" * 10)


def test_read_bytes_accepts_paths_bytes_and_uploads(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"a\n1\n")
    assert read_bytes(path) == ("e.csv", b"a\n1\n")
    assert read_bytes(str(path), "shown.csv") == ("shown.csv", b"a\n1\n")
    assert read_bytes(b"x", "up.csv") == ("up.csv", b"x")
    upload = io.BytesIO(b"y")
    upload.name = "/tmp/u.csv"
    assert read_bytes(upload) == ("u.csv", b"y")


# --- the real exports (skipped when /work/shared/data/real is absent) ------------------------------

@pytest.mark.parametrize("rel, rows, columns, first, fmt", [
    ("servicenow-incident-event-log/incident_event_log.csv.gz", 141_712, 36, "number", "csv"),
    ("bpi2013-volvo-incidents/VINST_incidents_ibm.csv.gz", 65_533, 17, "SR Number", "csv"),
    ("helpdesk-italian/helpdesk_finale.csv.gz", 21_348, 16, "Case ID", "csv"),
    ("github-status-incidents/githubstatus_incident_updates.csv.gz", 2_801, 8, "incident_id", "csv"),
    ("github-status-incidents/githubstatus_incidents_raw.jsonl.gz", 1_282, 2, "page", "jsonl"),
], ids=["servicenow", "volvo", "helpdesk", "github-updates", "github-jsonl"])
def test_real_exports(cur, real_data, rel, rows, columns, first, fmt):
    path = real_data / rel
    if not path.exists():
        pytest.skip(f"{path} not found")
    raw = load_raw_path(cur, path, table="raw")
    assert (raw.rows, len(raw.columns), raw.columns[0], raw.format) == (rows, columns, first, fmt)
    assert cur.execute("SELECT count(*), max(__row) FROM raw").fetchall() == [(rows, rows)]
    if "helpdesk" in rel:
        assert raw.columns[4:7] == ["Variant", "Variant index", "Variant_1"]
    if "volvo" in rel:
        assert raw.encoding == "utf-8-sig"
    if "updates" in rel:
        multiline = cur.execute("SELECT count(*) FROM raw WHERE body LIKE '%' || chr(10) || '%'").fetchall()[0][0]
        assert multiline > 0


@pytest.mark.parametrize("rel, cells", [
    # Placeholders "- -" and "-" for a missing product or owner.
    ("bpi2013-volvo-incidents/VINST_incidents_ibm.csv.gz", {"Product": 6, "Owner First Name": 30}),
    # ServiceNow's state code -100.
    ("servicenow-incident-event-log/incident_event_log.csv.gz", {"incident_state": 5}),
    ("helpdesk-italian/helpdesk_finale.csv.gz", {}),
], ids=["volvo", "servicenow", "helpdesk"])
def test_real_exports_formula_like_cells_are_counted_not_refused(cur, real_data, rel, cells):
    assert load_raw_path(cur, real_data / rel, table="raw").formula_cells == cells


def test_real_export_uploaded_as_bytes_matches_the_path_read(cur, real_data):
    path = real_data / "helpdesk-italian" / "helpdesk_finale.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    a = load_raw_path(cur, path, table="a")
    b = load_raw(cur, *read_bytes(path), table="b")
    assert (a.sha256, a.rows, a.columns) == (b.sha256, b.rows, b.columns)
    assert cur.execute("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b)").fetchall() == [(0,)]


def test_module_exports_the_contract():
    assert {"RawFile", "read_bytes", "load_raw", "load_raw_path", "sniff"} <= set(readers.__all__)
    assert issubclass(FileRejected, ValueError)
