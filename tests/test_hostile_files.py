"""Hostile uploads the reader refuses or bounds (issue #14): gzip checksums and bombs, headers over
the sniffed head, stray delimiters before an empty last field, stray line breaks, and the
bounds on columns and rows (analytics/ingest/file_limits.py). Each refusal is one line naming the file."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile

import pytest

from analytics.ingest import csv_lines, file_limits, readers
from analytics.ingest.file_limits import FileRejected
from analytics.ingest.readers import load_raw, load_raw_path
from tests.test_readers import cur, rejected, rows_of, xlsx_bytes  # noqa: F401 (cur: a fixture)

MIB = 1024 * 1024
ROWS = b"id,title\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(1, 2001))


# --- gzip ----------------------------------------------------------------------------------------

def _with_changed_letter(data: bytes) -> bytes:
    """Stored (level 0) gzip of `data` with one letter changed: only the CRC-32 can tell."""
    gz = bytearray(gzip.compress(data, compresslevel=0, mtime=0))
    gz[gz.index(b"row 1500")] = ord("s")
    return bytes(gz)


def test_a_gzip_whose_checksum_does_not_match_is_refused(cur, tmp_path):
    data = _with_changed_letter(ROWS)
    with pytest.raises(gzip.BadGzipFile, match="CRC"):
        gzip.decompress(data)
    assert rejected(cur, "t.csv.gz", data) == (
        "t.csv.gz: the gzip checksum does not match its content (the file is damaged)")
    (tmp_path / "t.csv.gz").write_bytes(data)
    with pytest.raises(FileRejected, match=r"^t\.csv\.gz: the gzip checksum does not match"):
        load_raw_path(cur, tmp_path / "t.csv.gz", table="raw")
    jsonl = b"".join(b'{"id": %d, "title": "row %d"}\n' % (i, i) for i in range(1, 2001))
    assert "the gzip checksum does not match" in rejected(cur, "t.jsonl.gz", _with_changed_letter(jsonl))


@pytest.mark.parametrize("damage, expected", [
    (lambda gz: gz[:-4] + bytes([gz[-4] ^ 1]) + gz[-3:], "the gzip length check does not match its content"),
    (lambda gz: gz[: len(gz) // 2], "the gzip data is cut off (the file is incomplete)"),
    (lambda gz: gz + b"junk", "the gzip data is damaged (Not a gzipped file"),
], ids=["length", "cut", "trailing-junk"])
def test_damaged_gzip_says_how(cur, damage, expected):
    assert rejected(cur, "t.csv.gz", damage(gzip.compress(ROWS, mtime=0))).startswith(f"t.csv.gz: {expected}")


def _bomb(members: int, rows_per_member: int = 1 << 18) -> bytes:
    """A header, then `members` gzip members of "1,2" rows (1 MiB each by default, ~1 KB packed)."""
    member = gzip.compress(b"1,2\n" * rows_per_member, mtime=0)
    return gzip.compress(b"a,b\n", mtime=0) + member * members


def test_gzip_content_counts_against_the_upload_limit(cur):
    bomb = _bomb(20)
    assert len(bomb) < 100 * 1024
    expected = ("the file expands to more than 1.0 MB when decompressed, over the 1.0 MB upload limit "
                "(HYPERCARE_MAX_UPLOAD_MB)")
    assert rejected(cur, "b.csv.gz", bomb, max_bytes=MIB) == f"b.csv.gz: {expected}"
    assert rejected(cur, "b.jsonl.gz", bomb, max_bytes=MIB) == f"b.jsonl.gz: {expected}"


def test_decompression_stops_as_soon_as_the_limit_is_crossed():
    written: list[int] = []
    bomb = _bomb(2048)  # 2 GiB once expanded
    with pytest.raises(FileRejected, match="expands to more than 1.0 MB"):
        file_limits._inflate("b.csv.gz", io.BytesIO(bomb), len(bomb), lambda chunk: written.append(len(chunk)), MIB)
    assert sum(written) <= MIB


def test_gzip_expanding_past_the_ratio_is_refused_without_a_limit(cur):
    bomb = _bomb(file_limits.RATIO_FLOOR // MIB + 1)
    assert rejected(cur, "b.csv.gz", bomb) == (
        "b.csv.gz: the file expands more than 100 times when decompressed (0.02 MB to over 17 MB), which no "
        "export does; upload the uncompressed file")


def test_a_small_very_repetitive_gzip_still_loads(cur):
    bomb = _bomb(4, rows_per_member=1 << 16)  # 1 MiB, over 500 times its packed size
    assert load_raw(cur, "r.csv.gz", bomb, table="raw").rows == 4 << 16


# --- the header ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_header_longer_than_the_sniffed_head_is_read_whole(cur):
    names = [f"custom_field_{i:03d}_" + "x" * 130 for i in range(500)]
    text = ";".join(["id", *names]) + "\n" + "A1;" + ";".join(["v"] * 500) + "\n"
    assert len(text.split("\n")[0]) > 64 * 1024
    for name, data in (("w.csv", text.encode()), ("w.csv.gz", gzip.compress(text.encode())),
                       ("w16.csv", text.encode("utf-16"))):
        raw = load_raw(cur, name, data, table="raw")
        assert (raw.delimiter, raw.columns, raw.rows) == (";", ["id", *names], 1)
        assert rows_of(cur, raw) == [("A1", *["v"] * 500)]


def test_a_header_over_the_bound_is_refused(cur):
    header = ",".join(f"c{i}_" + "x" * 2000 for i in range(600))  # 1.2 MB in 600 columns
    assert rejected(cur, "w.csv", (header + "\n" + ",".join("1" * 600) + "\n").encode()) == (
        "w.csv: the header does not end within the first 1 MB (a header that long, or a quote in it never "
        "closed, is no export Hypercare reads)")


# --- columns and rows ----------------------------------------------------------------------------

def test_more_columns_than_the_bound_are_refused_before_any_loading(cur, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("DuckDB was asked to read the file")

    monkeypatch.setattr(readers, "_read_csv_into", never)
    data = (",".join(f"c{i}" for i in range(1001)) + "\n" + ",".join("1" * 1001) + "\n").encode()
    assert rejected(cur, "w.csv", data) == (
        "w.csv: the file has 1,001 columns, more than the 1,000 Hypercare reads; export only the columns you need")


def test_the_column_bound_holds_in_every_format(cur):
    assert load_raw(cur, "w.csv", (",".join(f"c{i}" for i in range(1000)) + "\n" + "1," * 999 + "1\n").encode(),
                    table="raw").rows == 1
    cur.execute("DROP TABLE raw")
    record = {f"k{i}": "v" for i in range(1001)}
    assert "has 1,001 columns" in rejected(cur, "w.json", json.dumps([record]).encode())
    assert "has 1,001 columns" in rejected(cur, "w.xlsx", xlsx_bytes([[f"h{i}" for i in range(1001)], ["v"]]))
    assert "has 1,002 columns" in rejected(cur, "w.xlsx", xlsx_bytes([["id"], ["v", *[None] * 1000, "far"]]))


def test_a_sheet_declaring_the_whole_grid_reads_only_its_cells(cur):
    data = _with_dimension(xlsx_bytes([["id", "v"], ["a", 1], ["b", 2]]), "A1:XFD5000")
    raw = load_raw(cur, "d.xlsx", data, table="raw")  # padding rows to the declared width took minutes
    assert (raw.columns, rows_of(cur, raw)) == (["id", "v"], [("a", "1"), ("b", "2")])


def _with_dimension(xlsx: bytes, ref: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="%s"' % ref.encode(), data)
            dst.writestr(info, data)
    return out.getvalue()


def test_more_rows_than_the_bound_are_refused(cur, monkeypatch):
    monkeypatch.setattr(file_limits, "MAX_ROWS", 5)
    expected = "the file has more than 5 rows, the most Hypercare reads from one file; split the export"
    assert rejected(cur, "r.csv", b"a,b\n" + b"1,2\n" * 6).startswith(f"r.csv: {expected}")
    assert load_raw(cur, "r.csv", b"a,b\n" + b"1,2\n" * 5, table="raw").rows == 5
    cur.execute("DROP TABLE raw")
    assert rejected(cur, "r.xlsx", xlsx_bytes([["a"], *[[i] for i in range(6)]])).startswith(f"r.xlsx: {expected}")
    assert rejected(cur, "r.jsonl", b'{"a": 1}\n' * 6).startswith(f"r.jsonl: {expected}")


def test_an_xlsx_preview_reads_only_its_first_rows(cur):
    data = xlsx_bytes([["id", "v"], *[[f"T{i}", i] for i in range(1, 11)]])
    raw = load_raw(cur, "p.xlsx", data, table="raw", preview_rows=3)
    assert (raw.rows, raw.complete, raw.declared_rows) == (3, False, 10)
    assert rows_of(cur, raw) == [("T1", "1"), ("T2", "2"), ("T3", "3")]
    assert (load_raw(cur, "p.xlsx", data, table="raw").rows, readers.load_raw(cur, "p.xlsx", data, table="raw",
                                                                                 preview_rows=10).complete) == (10, True)


def test_an_xlsx_without_a_dimension_is_previewed_without_reading_it_all(cur):
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)  # openpyxl's own writer leaves <dimension> out
    ws = wb.create_sheet()
    for row in [["id"], *[[f"T{i}"] for i in range(1, 11)]]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    raw = load_raw(cur, "w.xlsx", buf.getvalue(), table="raw", preview_rows=3)
    assert (raw.rows, raw.complete, raw.declared_rows) == (3, False, None)


# --- stray delimiters and line breaks -----------------------------------------------------------

@pytest.mark.parametrize("record, found", [
    ("A2,2026-09-01 11:00,Disk, full,", 5),  # DuckDB drops an empty extra field: the fields shifted
    ("A2,2026-09-01 11:00,Disk, full,Mail", 5),
    ("A2,2026-09-01 11:00,Disk full,Mail,,", 6),
    ('A2,2026-09-01 11:00,Disk full,Mail,""', 5),
], ids=["empty-last", "non-empty-last", "two-empty", "quoted-empty"])
def test_one_field_too_many_is_refused_whether_or_not_it_is_empty(cur, record, found):
    data = f"id,opened_at,title,service\nA1,2026-09-01 10:00,Disk full,Mail\n{record}\nA3,x,y,z\n".encode()
    assert rejected(cur, "x.csv", data) == (
        f"x.csv, line 3: expected 4 fields, found {found} — the file looks truncated or has a stray delimiter")


def test_a_delimiter_ending_every_record_is_a_blank_column(cur):
    raw = load_raw(cur, "t.csv", b"a,b\n1,2,\n3,4,\n", table="raw")
    assert (raw.columns, rows_of(cur, raw)) == (["a", "b", "column2"], [("1", "2", None), ("3", "4", None)])
    cur.execute("DROP TABLE raw")
    stray = b"a,b\n" + b"1,2,\n" * 60 + b"3,x,4,\n"  # past the sampled head: the stray comma counts
    assert rejected(cur, "t.csv", stray).startswith("t.csv, line 62: expected 3 fields, found 4")


@pytest.mark.parametrize("data, line, found, own", [
    (b"id,title,s\n1,abc,x\n2,de\rmore,y\n3,z,w\n", 3, "CR", "LF"),
    (b"id,title,s\r\n1,abc,x\r\n2,de\rmore,y\r\n3,z,w\r\n", 3, "CR", "CRLF"),
    (b"id,title,s\r\n1,abc,x\r\n2,de\nmore,y\r\n", 3, "LF", "CRLF"),
    (b'id,title,s\n1,"a\rb\nc",x\n2,"q""",z\r\n', 4, "CRLF", "LF"),  # the quoted ones are fine
], ids=["cr-in-lf", "cr-in-crlf", "lf-in-crlf", "crlf-after-quoted-breaks"])
def test_a_stray_line_break_is_named_with_its_line(cur, data, line, found, own):
    assert rejected(cur, "x.csv", data) == (
        f"x.csv, line {line}: a line break ({found}) outside quotes in a file whose lines end with {own} — a value "
        "holds an unquoted line break, or the file mixes line endings")


def test_a_crlf_across_the_scan_chunks_is_one_line_break(tmp_path):
    path = tmp_path / "t.csv"
    first = b"a,b\r\n" + b"x" * ((1 << 20) - 6) + b"\r"  # the CR ends the first 1 MiB chunk
    path.write_bytes(first + b"\n1,2\r\n3,4\n")
    assert csv_lines.stray_line_break(path) == (4, "LF", "CRLF")
