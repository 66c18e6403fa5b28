"""Ingest stage 1: one uploaded export file -> a DuckDB TEMP table of text columns.

Decisions (the ingest pipeline and the Upload page rely on them):
- Every source column is VARCHAR holding the value exactly as text; no type inference.
  Empty cells are NULL in every format (CSV ``,,`` and ``,"",``; JSON ``""``/null; blank XLSX
  cells); other null tokens ("?", "N/A") stay text for the mapping stage.
- ``__row`` BIGINT (the last column) is the 1-based data record number in file order. A CSV
  record with quoted newlines counts once; blank lines and fully blank sheet rows are skipped.
- Structural CSV errors (a record with more or fewer fields than the header, an unclosed quote,
  an over-long line) refuse the whole file: a partially read export would silently misstate
  counts. Their messages name physical line numbers, as a text editor shows them.
- A cell that starts like a spreadsheet formula (csv_export.FORMULA_FIRST_CHARS, OWASP's list)
  is stored as it is; `RawFile.formula_cells` counts them per column for data quality, and every
  export neutralises them (analytics/csv_export.py). A real "- printer jammed" must not cost the
  whole file.
- UTF-8 CSV, plain or gzip, is read by DuckDB straight from disk (parallel, ~DuckDB's own
  speed); UTF-16 and cp1252 are transcoded to a UTF-8 temp file first. cp1252 is assumed when
  the first 64 KB are not UTF-8, or when DuckDB later finds invalid UTF-8 in a file whose first
  64 KB were plain ASCII.
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

from . import file_formats as sn
from .csv_export import formula_start_sql
from .file_formats import FileRejected

__all__ = ["FileRejected", "RawFile", "load_raw", "load_raw_path", "read_bytes", "sniff"]

MIB = 1024 * 1024
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
             delimiter: str | None = None, encoding: str | None = None) -> RawFile:
    """Load uploaded bytes into TEMP TABLE `table` on `cur` (see the module docstring).

    `delimiter` / `encoding` override detection. Raises FileRejected with a one-line message.
    """
    data = bytes(data)
    _check_size(name, len(data), max_bytes)
    fd, tmp = tempfile.mkstemp(prefix="hypercare-upload-")
    try:
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return _load(cur, Path(tmp), name, len(data), digest, table, delimiter, encoding)
    finally:
        os.unlink(tmp)


def load_raw_path(cur, path, *, table: str, name: str | None = None, max_bytes: int | None = None,
                  delimiter: str | None = None, encoding: str | None = None) -> RawFile:
    """load_raw for a file already on disk: no copy, DuckDB reads the path itself."""
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    _check_size(name, size, max_bytes)
    with ThreadPoolExecutor(1) as pool:  # hashing runs while DuckDB reads
        digest = pool.submit(sn.sha256_file, path)
        return _load(cur, path, name, size, digest, table, delimiter, encoding)


def sniff(name: str, data: bytes, *, delimiter: str | None = None, encoding: str | None = None) -> dict:
    """{"format", "encoding", "delimiter", "columns"} for a preview; CSV reads only the head."""
    if not data:
        raise FileRejected(f"{name}: the file is empty")
    head, is_gz, complete = sn.head_of_bytes(data)
    plan = _plan(name, head, complete, lambda: sn.gunzip(name, data) if is_gz else data,
                 delimiter, encoding, preview=True)
    return {k: plan[k] for k in ("format", "encoding", "delimiter", "columns")}


# --- loading -----------------------------------------------------------------------------------

def _plan(name: str, head: bytes, complete: bool, whole, delimiter, encoding, preview=False) -> dict:
    """What the file is and its columns; XLSX/JSON are parsed whole here (`whole()` -> bytes)."""
    kind = sn.detect_kind(name, head)
    if kind == "xlsx":
        names, values = sn.xlsx_table(name, whole(), max_rows=0 if preview else None)
        return {"format": "xlsx", "encoding": "utf-8", "delimiter": None, "columns": names, "values": values}
    label, codec = sn.encoding_of(name, head, encoding)
    text = sn.text_head(name, head, codec, complete)
    if kind != "csv":
        fmt, names, values = sn.json_table(name, whole().decode(codec, errors="replace"), kind)
        return {"format": fmt, "encoding": label, "delimiter": None, "columns": names, "values": values}
    delim, header, skip = sn.csv_header(name, text, complete, delimiter)
    return {"format": "csv", "encoding": label, "delimiter": delim, "columns": sn.unique_names(header),
            "values": None, "codec": codec, "ascii_head": head.isascii(), "skip": skip}


def _load(cur, path: Path, name: str, size: int, digest: Future, table: str,
          delimiter: str | None, encoding: str | None) -> RawFile:
    if size == 0:
        raise FileRejected(f"{name}: the file is empty")
    head, is_gz, complete = sn.head_of_file(path)
    whole = lambda: sn.gunzip(name, path.read_bytes()) if is_gz else path.read_bytes()  # noqa: E731
    plan = _plan(name, head, complete, whole, delimiter, encoding)
    names = plan["columns"]
    try:
        if plan["values"] is None:
            with _insertion_order(cur):
                plan["encoding"] = _load_csv(cur, path, is_gz, name, table, names, plan,
                                             forced=encoding is not None)
        else:
            _create_from_columns(cur, table, names, plan["values"])
        rows = cur.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0]
        if rows == 0:
            what = "has a header but no data rows" if plan["format"] in ("csv", "xlsx") else "contains no records"
            raise FileRejected(f"{name}: the file {what}")
        formulas = _count_formulas(cur, table, names)
        return RawFile(name, table, names, rows, plan["format"], plan["encoding"], plan["delimiter"],
                       digest.result(), size, formulas)
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


def _load_csv(cur, path: Path, is_gz: bool, name: str, table: str, names: list[str], plan: dict,
              *, forced: bool) -> str:
    """Read the CSV with DuckDB and number its rows; returns the encoding label actually used."""
    label, codec = plan["encoding"], plan["codec"]
    for attempt in (1, 2):
        tmp = None
        if codec not in ("utf-8", "utf-8-sig"):
            try:
                tmp = sn.transcode_to_utf8(path, is_gz, codec)
            except (OSError, EOFError) as exc:
                raise FileRejected(f"{name}: the gzip data is damaged or cut off ({exc})") from None
        src, compression = (tmp, "none") if tmp else (path, "gzip" if is_gz else "none")
        try:
            errors, total = _read_csv_into(cur, name, src, compression, table, names, plan["delimiter"],
                                           plan["skip"])
            kinds = {t for e in errors for t in e[2]}
            if "INVALID ENCODING" in kinds and attempt == 1 and not forced and plan["ascii_head"]:
                label, codec = "cp1252", "cp1252"  # the non-ASCII bytes came after the sniffed head
                continue
            if errors:
                lines = sn.physical_lines(src, compression == "gzip", [e[1] for e in errors])
                raise FileRejected(_structure_message(name, errors, total, len(names), lines))
            _number_rows(cur, table)
            return label
        finally:
            if tmp:
                os.unlink(tmp)
    raise AssertionError("unreachable")


def _read_csv_into(cur, name, src, compression, table, names, delim, skip: bool):
    """CTAS from read_csv; returns (up to 3 bad lines, number of bad lines) from the rejects."""
    tag = uuid.uuid4().hex[:12]
    skip_option = "skip = 1, " if skip else ""
    rejects, scans = f"__hc_rejects_{tag}", f"__hc_rejscan_{tag}"
    # Explicit columns skip DuckDB's sniffer, which gives up on the very files we must explain.
    columns = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
    try:
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {_q(table)} AS SELECT * FROM read_csv({_lit(str(src))}, "
            f"{skip_option}header = true, auto_detect = false, columns = {columns}, delim = {_lit(delim)}, "
            f"quote = '\"', escape = '\"', encoding = 'utf-8', compression = {_lit(compression)}, "
            f"strict_mode = true, store_rejects = true, rejects_table = {_lit(rejects)}, "
            f"rejects_scan = {_lit(scans)})"
        )
        errors = cur.execute(
            f"SELECT line, min(line_byte_position), list(DISTINCT error_type::VARCHAR), "
            f"list(error_message) FROM {_q(rejects)} GROUP BY line ORDER BY line LIMIT {_SHOWN}"
        ).fetchall()
        total = cur.execute(f"SELECT count(DISTINCT line) FROM {_q(rejects)}").fetchall()[0][0]
        return errors, total
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].split(": ", 1)[-1]
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

def _check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileRejected(f"{name}: the file is {size / MIB:.1f} MB, over the {max_bytes / MIB:.1f} MB "
                           "upload limit (HYPERCARE_MAX_UPLOAD_MB)")


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
