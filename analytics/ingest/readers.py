"""Ingest stage 1: one uploaded export file -> a DuckDB TEMP table of text columns.

Decisions (the ingest pipeline and the Upload page rely on them):
- Every source column is VARCHAR holding the value exactly as text; no type inference.
  Empty cells are NULL in every format (CSV ``,,`` and ``,"",``; JSON ``""``/null; blank XLSX
  cells); other null tokens ("?", "N/A") stay text for the mapping stage.
- ``__row`` BIGINT (the last column) is the 1-based data record number in file order. A CSV
  record with quoted newlines counts once; blank lines and fully blank sheet rows are skipped.
- Structural CSV errors (a record with more or fewer fields than the header, an empty extra
  field included, an unclosed quote, an over-long line, a line break outside quotes that is not
  the file's own) refuse the whole file: a partially read export would silently misstate
  counts. Their messages name physical line numbers, as a text editor shows them.
- A cell that starts like a spreadsheet formula (csv_export.FORMULA_FIRST_CHARS, OWASP's list)
  is stored as it is; `RawFile.formula_cells` counts them per column for data quality, and every
  export neutralises them (analytics/store/csv_export.py). A real "- printer jammed" must not cost the
  whole file.
- UTF-8 CSV is read by DuckDB straight from disk (parallel, ~DuckDB's own speed); gzip is first
  decompressed to a temp file within file_limits' bounds (its CRC checked: DuckDB's reader does
  not), UTF-16 and cp1252 are transcoded to a UTF-8 temp file. cp1252 is assumed when the first
  64 KB are not UTF-8, or when DuckDB later finds invalid UTF-8 in a file whose first 64 KB were
  plain ASCII.
- Columns, rows, header length and gzip expansion are bounded (file_limits); the column count
  is checked before anything is loaded.
- The table is made with CREATE OR REPLACE; on any rejection it is dropped, along with the
  helper objects, so a refused upload leaves nothing behind.
- Sizes in messages are MiB (1,048,576 bytes), the unit of Streamlit's upload limit.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from analytics.ingest import csv_lines, xlsx_reader
from analytics.ingest import file_formats as sn
from analytics.ingest import file_limits as fl
from analytics.ingest.file_limits import FileRejected
from analytics.store.csv_export import formula_start_sql

__all__ = ["RawFile", "load_raw", "load_raw_path", "read_bytes", "sniff"]

MIB = fl.MIB
_SHOWN = 3  # problems named in one message; the rest are counted


@dataclass
class RawFile:
    name: str
    table: str
    columns: list[str]  # source columns in file order, as named in the table (without __row)
    rows: int
    format: str  # csv, xlsx, json, jsonl
    encoding: str  # utf-8, utf-8-sig, utf-16, cp1252 (or a user-chosen codec)
    delimiter: str | None
    sha256: str  # of the uploaded bytes as given (before gunzip)
    size_bytes: int
    formula_cells: dict[str, int] = field(default_factory=dict)  # column -> cells starting like a formula
    complete: bool = True  # False: an XLSX preview read only its first rows (load_raw's preview_rows)
    declared_rows: int | None = None  # then: the rows the sheet says it has, if it says


def read_bytes(path_or_data, name: str | None = None) -> tuple[str, bytes]:
    """(display name, raw bytes) from a path, bytes + name, or a file-like upload object."""
    if isinstance(path_or_data, (bytes, bytearray, memoryview)):
        return name or "upload", bytes(path_or_data)
    if hasattr(path_or_data, "read"):
        data = path_or_data.getvalue() if hasattr(path_or_data, "getvalue") else path_or_data.read()
        return name or Path(str(getattr(path_or_data, "name", "upload"))).name, bytes(data)
    path = Path(path_or_data)
    return name or path.name, path.read_bytes()


def load_raw(cur, name: str, data: bytes, *, table: str, max_bytes: int | None = None,
             delimiter: str | None = None, encoding: str | None = None,
             preview_rows: int | None = None) -> RawFile:
    """Load uploaded bytes into TEMP TABLE `table` on `cur` (see the module docstring).

    `max_bytes` bounds the file and its decompressed content; `delimiter` / `encoding` override
    detection; `preview_rows` reads only that many rows of an XLSX file (openpyxl takes minutes
    for 1M rows; CSV and JSON are read whole, fast enough). Raises FileRejected with a one-line
    message.
    """
    data = bytes(data)
    fl.check_size(name, len(data), max_bytes)
    fd, tmp = tempfile.mkstemp(prefix="hypercare-upload-")
    try:
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return _load(cur, Path(tmp), name, len(data), digest, table, delimiter, encoding, max_bytes, preview_rows)
    finally:
        os.unlink(tmp)


def load_raw_path(cur, path, *, table: str, name: str | None = None, max_bytes: int | None = None,
                  delimiter: str | None = None, encoding: str | None = None,
                  preview_rows: int | None = None) -> RawFile:
    """load_raw for a file already on disk: no copy, DuckDB reads the path itself."""
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    fl.check_size(name, size, max_bytes)
    with ThreadPoolExecutor(1) as pool:  # hashing runs while DuckDB reads
        digest = pool.submit(sn.sha256_file, path)
        return _load(cur, path, name, size, digest, table, delimiter, encoding, max_bytes, preview_rows)


def sniff(name: str, data: bytes, *, delimiter: str | None = None, encoding: str | None = None) -> dict:
    """{"format", "encoding", "delimiter", "columns"} for a preview; CSV reads only the head."""
    if not data:
        raise FileRejected(f"{name}: the file is empty")
    is_gz = data[:2] == sn.GZIP_MAGIC
    plan = _plan(name, lambda n: sn.head_of_bytes(data, n),
                 lambda: fl.gunzip_bytes(name, data, None) if is_gz else data, delimiter, encoding, xlsx_rows=0)
    return {k: plan[k] for k in ("format", "encoding", "delimiter", "columns")}


# --- loading -----------------------------------------------------------------------------------

def _plan(name: str, head_of, whole, delimiter, encoding, xlsx_rows: int | None = None) -> dict:
    """What the file is and its columns; XLSX/JSON are parsed here (`whole()` -> bytes).

    `head_of(n)` -> (first n decompressed bytes, they are all): the head grows until it holds
    the whole CSV header."""
    n = sn.HEAD_BYTES
    while True:
        head, complete = head_of(n)
        kind = sn.detect_kind(name, head)
        plan = {"format": kind, "encoding": "utf-8", "delimiter": None}
        if kind == "xlsx":
            names, values, whole_sheet, declared = xlsx_reader.xlsx_table(name, whole(), max_rows=xlsx_rows)
            return {**plan, "columns": names, "values": values, "complete": whole_sheet, "declared": declared}
        label, codec = sn.encoding_of(name, head, encoding)
        text = sn.text_head(name, head, codec, complete)
        if kind != "csv":
            fmt, names, values = sn.json_table(name, whole().decode(codec, errors="replace"), kind)
            return {**plan, "format": fmt, "encoding": label, "columns": names, "values": values}
        if complete or sn.header_is_whole(text):
            break
        if n >= fl.MAX_HEADER_BYTES:
            raise FileRejected(f"{name}: the header does not end within the first {fl.MAX_HEADER_BYTES // MIB} MB "
                               "(a header that long, or a quote in it never closed, is no export Hypercare reads)")
        n = min(4 * n, fl.MAX_HEADER_BYTES)
    delim, header, skip = sn.csv_header(name, text, complete, delimiter)
    fl.check_columns(name, len(header))  # before any work per column
    return {**plan, "encoding": label, "delimiter": delim, "columns": sn.unique_names(header), "values": None,
            "codec": codec, "ascii_head": head.isascii(), "skip": skip}


def _load(cur, path: Path, name: str, size: int, digest: Future, table: str, delimiter: str | None,
          encoding: str | None, max_bytes: int | None, preview_rows: int | None) -> RawFile:
    if size == 0:
        raise FileRejected(f"{name}: the file is empty")
    # All of a gzip file first, within the bounds: its CRC is checked at the end (DuckDB's
    # reader does not), and DuckDB reads plain text in parallel.
    plain = fl.gunzip_file(name, path, max_bytes) if sn.is_gzip_file(path) else None
    try:
        return _load_plain(cur, plain or path, name, size, digest, table, delimiter, encoding, preview_rows)
    finally:
        if plain:
            os.unlink(plain)


def _load_plain(cur, path: Path, name: str, size: int, digest: Future, table: str, delimiter: str | None,
                encoding: str | None, preview_rows: int | None) -> RawFile:
    plan = _plan(name, lambda n: sn.head_of_file(path, n), path.read_bytes, delimiter, encoding,
                 xlsx_rows=preview_rows)
    names = plan["columns"]
    try:
        if plan["values"] is None:
            with _insertion_order(cur):
                plan["encoding"] = _load_csv(cur, path, name, table, names, plan, forced=encoding is not None)
        else:
            _create_from_columns(cur, table, names, plan["values"])
        rows = cur.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0]
        if rows == 0:
            what = "has a header but no data rows" if plan["format"] in ("csv", "xlsx") else "contains no records"
            raise FileRejected(f"{name}: the file {what}")
        fl.check_rows(name, rows)
        formulas = _count_formulas(cur, table, names)
        return RawFile(name, table, names, rows, plan["format"], plan["encoding"], plan["delimiter"],
                       digest.result(), size, formulas, plan.get("complete", True), plan.get("declared"))
    except BaseException:
        cur.execute(f"DROP TABLE IF EXISTS {_q(table)}")
        raise


@contextmanager
def _insertion_order(cur):
    """__row numbering relies on the table holding rows in file order."""
    ordered = cur.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    if not ordered:
        cur.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        if not ordered:
            cur.execute("SET preserve_insertion_order = false")


def _load_csv(cur, path: Path, name: str, table: str, names: list[str], plan: dict, *, forced: bool) -> str:
    """Read the CSV with DuckDB and number its rows; returns the encoding label actually used."""
    label, codec = plan["encoding"], plan["codec"]
    for attempt in (1, 2):
        tmp = sn.transcode_to_utf8(path, codec) if codec not in ("utf-8", "utf-8-sig") else None
        src = tmp or path
        try:
            errors, total = _read_csv_into(cur, name, src, table, names, plan["delimiter"], plan["skip"])
            kinds = {t for e in errors for t in e[2]}
            if "INVALID ENCODING" in kinds and attempt == 1 and not forced and plan["ascii_head"]:
                label, codec = "cp1252", "cp1252"  # the non-ASCII bytes came after the sniffed head
                continue
            if errors:
                lines = csv_lines.physical_lines(src, [e[1] for e in errors])
                raise FileRejected(_structure_message(name, errors, total, len(names), lines))
            _number_rows(cur, table)
            return label
        finally:
            if tmp:
                os.unlink(tmp)
    raise AssertionError("unreachable")


def _read_csv_into(cur, name, src, table, names, delim, skip: bool):
    """CTAS from read_csv; returns (up to 3 bad lines, number of bad lines) from the rejects."""
    tag = uuid.uuid4().hex[:12]
    skip_option = "skip = 1, " if skip else ""
    rejects, scans = f"__hc_rejects_{tag}", f"__hc_rejscan_{tag}"
    # Explicit columns skip DuckDB's sniffer, which gives up on the very files we must explain.
    columns = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
    # DuckDB drops extra fields that read as NULL ("a,b," for two columns), shifting a record
    # with a stray delimiter silently: with an unguessable null string, an empty field is ''
    # and counts, and the select makes '' NULL again.
    cells = ", ".join(f"NULLIF({_q(n)}, '') AS {_q(n)}" for n in names)
    try:
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {_q(table)} AS SELECT {cells} FROM read_csv({_lit(str(src))}, "
            f"{skip_option}header = true, auto_detect = false, columns = {columns}, delim = {_lit(delim)}, "
            f"quote = '\"', escape = '\"', encoding = 'utf-8', nullstr = {_lit('__hc_null_' + tag)}, "
            f"strict_mode = true, store_rejects = true, rejects_table = {_lit(rejects)}, "
            f"rejects_scan = {_lit(scans)}) LIMIT $max_rows", {"max_rows": fl.MAX_ROWS + 1}
        )
        errors = cur.execute(
            f"SELECT line, min(line_byte_position), list(DISTINCT error_type::VARCHAR), "
            f"list(error_message) FROM {_q(rejects)} GROUP BY line ORDER BY line LIMIT {_SHOWN}"
        ).fetchall()
        total = cur.execute(f"SELECT count(DISTINCT line) FROM {_q(rejects)}").fetchall()[0][0]
        return errors, total
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].split(": ", 1)[-1]
        stray = csv_lines.stray_line_break(src) if "invalid state" in reason else None
        if stray:
            line, found, own = stray
            raise FileRejected(f"{name}, line {line}: a line break ({found}) outside quotes in a file whose lines "
                               f"end with {own} — a value holds an unquoted line break, or the file mixes line "
                               "endings") from None
        raise FileRejected(f"{name}: the file could not be read as CSV ({reason})") from None
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {_q(rejects)}")
        cur.execute(f"DROP TABLE IF EXISTS {_q(scans)}")


def _number_rows(cur, table: str) -> None:
    # ADD COLUMN fills row groups one after another in storage order, which is file order while
    # preserve_insertion_order is on: ~0.1 s per 1M rows, where row_number() OVER () costs ~0.9 s.
    seq = f"__hc_rowseq_{uuid.uuid4().hex[:12]}"
    cur.execute(f"CREATE TEMP SEQUENCE {_q(seq)} START 1")
    try:
        cur.execute(f"ALTER TABLE {_q(table)} ADD COLUMN __row BIGINT DEFAULT nextval({_lit(seq)})")
        cur.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN __row DROP DEFAULT")
    finally:
        cur.execute(f"DROP SEQUENCE IF EXISTS {_q(seq)}")


def _create_from_columns(cur, table: str, names: list[str], values: list[list[str | None]]) -> None:
    n = len(values[0]) if values else 0
    arrays = [pa.array(v, type=pa.string()) for v in values] + [pa.array(range(1, n + 1), pa.int64())]
    view = f"__hc_arrow_{uuid.uuid4().hex[:12]}"
    cur.register(view, pa.Table.from_arrays(arrays, names=[*names, "__row"]))
    try:
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {_q(table)} AS SELECT * FROM {_q(view)}")
    finally:
        cur.unregister(view)


# --- checks and messages ------------------------------------------------------------------------

def _structure_message(name: str, errors: list[tuple], total: int, width: int, lines: dict) -> str:
    """One line naming up to 3 bad lines from DuckDB's rejects (line, offset, types, messages)."""
    parts, hint = [], None
    for line, offset, kinds, messages in errors:
        kind = kinds[0]
        found = [int(m) for m in re.findall(r"Found: (\d+)", " ".join(messages))]
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS") and found:
            # DuckDB logs one MISSING entry per absent field: the smallest count is the real one.
            reason = f"expected {width} fields, found {min(found) if kind[0] == 'M' else max(found)}"
            h = "the file looks truncated or has a stray delimiter"
        elif kind == "INVALID ENCODING":
            reason, h = "the text is not valid UTF-8", "choose the encoding on the Upload page or with --encoding"
        elif kind == "UNQUOTED VALUE":
            reason = "a quoted value is never closed, or text follows its closing quote"
            h = "the file looks truncated or has a stray quote"
        else:
            reason = messages[0].rstrip(".").replace("\n", " ")
            h = "the file looks truncated or has a stray quote"
        hint = hint or h
        parts.append(f"line {lines.get(offset, line)}: {reason}")
    more = f"; {total} bad lines in total" if total > len(errors) else ""
    return f"{name}, " + "; ".join(parts) + more + f" — {hint}"


def _count_formulas(cur, table: str, names: list[str]) -> dict[str, int]:
    """Cells per column that start like a spreadsheet formula, in file order; columns without any are left out."""
    # The WHERE keeps almost every row out cheaply (DuckDB skips whole row groups by their
    # min/max statistics); only the rows left are unpivoted to count their cells per column.
    # One count(*) FILTER per column instead took minutes on a 3,000-column file.
    where = " OR ".join(formula_start_sql(_q(c)) for c in names)
    found = dict(cur.execute(
        f"SELECT name, count(*) FROM (UNPIVOT (SELECT * EXCLUDE (__row) FROM {_q(table)} WHERE {where}) "
        f"ON COLUMNS(*) INTO NAME name VALUE v) WHERE {formula_start_sql('v')} GROUP BY name").fetchall())
    return {c: int(found[c]) for c in names if c in found}


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
