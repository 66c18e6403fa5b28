"""The pure-Python side of reading an upload; `readers` does the DuckDB side.

- Sniffing (kind, gzip, encoding, delimiter, header) looks at a head sample only (HEAD_BYTES of
  decompressed content), so it costs the same for a 1 KB and a 200 MB export.
- JSON exports are small: they are parsed whole here into text columns (XLSX: xlsx_reader).
- The whole-file CSV helpers (hash, transcode) stream.
Everything that refuses a file raises FileRejected with a one-line message naming the file;
file_limits holds the bounds on what one file may cost.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import tempfile
import zlib
from pathlib import Path

from analytics.ingest.file_limits import FileRejected, check_columns, check_rows

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_CANDIDATE_RECORDS = 50


def is_gzip_file(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def head_of_file(path: str | Path, n: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """(first n bytes, they are all the content) of a plain file (readers gunzips a .gz first)."""
    with open(path, "rb") as f:
        head = f.read(n + 1)
    return head[:n], len(head) <= n


def head_of_bytes(data: bytes, n: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """Same as head_of_file for in-memory bytes, plain or gzip, decompressing only what the head needs."""
    if data[:2] != GZIP_MAGIC:
        return data[:n], len(data) <= n
    head = _partial_gunzip(data, n + 1)
    return head[:n], len(head) <= n


def _partial_gunzip(data: bytes, limit: int) -> bytes:
    """Up to about `limit` decompressed bytes; a cut or corrupt stream yields what it can."""
    view, out, pos = memoryview(data), bytearray(), 0
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        while len(out) < limit and pos < len(view) and not d.eof:
            out += d.decompress(view[pos : pos + 16384])
            pos += 16384
    except zlib.error:
        pass
    return bytes(out)


def detect_encoding(head: bytes) -> tuple[str, str]:
    """(label for the user, Python codec). Labels: utf-8, utf-8-sig, utf-16, cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "utf-16"
    sample = head[:4096]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):
        # BOM-less UTF-16 (some Windows tools): NULs sit in the high byte of ASCII characters.
        evens = sample[0::2].count(0)
        odds = sample[1::2].count(0)
        if max(evens, odds) > 0.8 * (len(sample) // 2) and min(evens, odds) < 0.2 * (len(sample) // 2):
            return "utf-16", "utf-16-be" if evens > odds else "utf-16-le"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", "utf-8"
    except UnicodeDecodeError:
        return "cp1252", "cp1252"


def normalise_encoding(encoding: str) -> tuple[str, str]:
    """A user-chosen encoding as (label, codec); raises LookupError for unknown names."""
    codec = codecs.lookup(encoding.strip()).name
    label = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf-16": "utf-16", "cp1252": "cp1252"}
    return label.get(codec, codec), codec


def decode_head(head: bytes, codec: str, complete: bool) -> str:
    """Decode a head sample; a character cut at the sample's end is dropped, not an error."""
    return codecs.getincrementaldecoder(codec)(errors="replace").decode(head, final=complete)


def is_binary(text: str) -> bool:
    return "\x00" in text[:8192]


def normalise_delimiter(delimiter: str) -> str:
    d = DELIMITER_ALIASES.get(delimiter.strip().lower(), delimiter) if delimiter.strip() else delimiter
    if len(d) != 1 or d in "\"\r\n":
        raise ValueError(f"the delimiter must be one character, got {delimiter!r}")
    return d


def _records(text: str, delimiter: str, complete: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'):
            if row:
                rows.append(row)
            if len(rows) > _CANDIDATE_RECORDS:
                break
    except csv.Error:
        pass
    # The last record of a cut sample is usually partial: never let it vote.
    if not complete and len(rows) <= _CANDIDATE_RECORDS and len(rows) > 1:
        rows.pop()
    return rows[:_CANDIDATE_RECORDS]


def detect_delimiter(text: str, complete: bool = True) -> str:
    """The candidate that splits the header into >1 fields and most records into as many."""
    best, best_score = ",", (0.0, 0)
    for d in DELIMITERS:
        rows = _records(text, d, complete)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best_score:
            best, best_score = d, score
    return best


def parse_header(text: str, delimiter: str) -> list[str]:
    """Raw header names of the first non-blank record, with a leftover BOM stripped."""
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'):
        if row:
            row[0] = row[0].lstrip("\ufeff")
            return row
    return []


def other_delimiter_in(header: str, delimiter: str) -> str | None:
    """For a one-column header: the delimiter it probably should have been split on."""
    counts = {d: header.count(d) for d in DELIMITERS if d != delimiter}
    d = max(counts, key=lambda k: counts[k])
    return d if counts[d] else None


def unique_names(names: list[str], reserved: tuple[str, ...] = ("__row",)) -> list[str]:
    """Column names as the table will have them: blanks become column<N>, repeats get _1, _2.

    DuckDB identifiers are case-insensitive, so "ID" and "id" also count as a repeat.
    """
    seen = {r.lower() for r in reserved}
    out = []
    width = len(str(max(len(names) - 1, 0)))
    for i, raw in enumerate(names):
        base = raw if raw.strip() else f"column{i:0{width}d}"
        name, k = base, 0
        while name.lower() in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name.lower())
        out.append(name)
    return out


def delimiter_label(d: str | None) -> str:
    return "tab" if d == "\t" else repr(d)


def detect_kind(name: str, head: bytes) -> str:
    """Which reader: "xlsx", "json", "jsonl" or "csv" (any other text content is read as CSV)."""
    low = name.lower().removesuffix(".gz")
    if head.startswith(ZIP_MAGIC) or low.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if low.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json" if low.endswith(".json") else "csv"


# --- whole-file helpers: streamed, since uploads can be 150+ MB -----------------------------------

def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def transcode_to_utf8(path: str | Path, codec: str) -> Path:
    """A UTF-8 temp copy of the (plain, not gzipped) file."""
    fd, tmp = tempfile.mkstemp(prefix="hypercare-utf8-", suffix=".csv")
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(decoder.decode(chunk).encode("utf-8"))
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


# --- checks that refuse a file on what its head shows -------------------------------------------

def encoding_of(name: str, head: bytes, encoding: str | None) -> tuple[str, str]:
    """(label, codec): the user's choice if given, else detected."""
    if encoding is None:
        return detect_encoding(head)
    try:
        return normalise_encoding(encoding)
    except LookupError:
        raise FileRejected(f"{name}: unknown encoding {encoding!r}; use utf-8, utf-16 or cp1252") from None


def text_head(name: str, head: bytes, codec: str, complete: bool) -> str:
    text = decode_head(head, codec, complete)
    if is_binary(text):
        raise FileRejected(f"{name}: this is not a text export (binary content); "
                           "upload CSV, CSV.GZ, XLSX, JSON or JSONL")
    if complete and not text.strip():
        raise FileRejected(f"{name}: the file is empty")
    return text


_SEP_LINE = re.compile(r"\ufeff?sep=(.)\r?\n")  # Excel's delimiter line, above the header


def header_is_whole(text: str) -> bool:
    """Whether a head sample holds the whole header record (something follows its line end)."""
    hint = _SEP_LINE.match(text)
    rows = csv.reader(io.StringIO(text[hint.end():] if hint else text, newline=""))
    try:
        if next((r for r in rows if r), None) is None:
            return False
        next(rows)  # the field delimiter does not matter: only where records end
        return True
    except (StopIteration, csv.Error):
        return False


def csv_header(name: str, text: str, complete: bool, delimiter: str | None) -> tuple[str, list[str], bool]:
    """(delimiter, raw header names, skip a "sep=;" line); refuses a one-column header that holds
    another delimiter."""
    hint = _SEP_LINE.match(text)
    if hint:
        text, delimiter = text[hint.end():], delimiter or hint.group(1)
    try:
        delim = normalise_delimiter(delimiter) if delimiter else detect_delimiter(text, complete)
    except ValueError as exc:
        raise FileRejected(f"{name}: {exc}") from None
    try:
        header = parse_header(text, delim)
    except csv.Error as exc:  # e.g. a field over csv's 128 KB limit
        raise FileRejected(f"{name}: the header cannot be read as CSV ({exc})") from None
    if not header:
        raise FileRejected(f"{name}: the file is empty")
    records = _records(text, delim, complete)[1:]
    if len(records) > 1 and header[-1] and all(len(r) == len(header) + 1 and r[-1] == "" for r in records):
        header = [*header, ""]  # every record ends with a delimiter, the header does not: a blank column
    other = other_delimiter_in(header[0], delim) if len(header) == 1 else None
    if other:
        raise FileRejected(f"{name}: only one column found ({header[0][:60]!r}); the delimiter looks like "
                           f"{delimiter_label(other)} — choose it on the Upload page or with --delimiter")
    return delim, header, bool(hint)


# --- JSON, parsed whole into (column names, column values); XLSX: xlsx_reader ---------------------

def json_table(name: str, text: str, kind: str):
    """(format, names, values) from a JSON array, an object holding one, or JSON Lines."""
    records: list = []
    if kind == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise FileRejected(f"{name}, line {exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})") from None
            kind = "jsonl"  # a .json file holding one object per line
        else:
            if isinstance(doc, dict):  # {"incidents": [...], "meta": {...}}: the longest list of objects
                lists = [v for v in doc.values() if isinstance(v, list)]
                doc = max(lists, key=lambda v: (any(isinstance(x, dict) for x in v), len(v))) if lists else None
            if not isinstance(doc, list):
                raise FileRejected(f"{name}: no list of records found; expected an array of objects "
                                   'or an object holding one (e.g. {"incidents": [...]})')
            records = doc
    if kind == "jsonl":
        # split on \n only: str.splitlines() would also cut at U+2028 inside JSON strings
        for i, line in enumerate(text.lstrip("\ufeff").split("\n"), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise FileRejected(f"{name}, line {i}: invalid JSON ({exc.msg}, column {exc.colno})") from None
                if not isinstance(records[-1], dict):
                    raise FileRejected(f"{name}, line {i}: expected one JSON object per line")
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, dict):
            raise FileRejected(f"{name}: record {i} is not an object ({type(rec).__name__})")
    check_rows(name, len(records))
    keys = list(dict.fromkeys(k for rec in records for k in rec))
    check_columns(name, len(keys))
    if records and not keys:
        raise FileRejected(f"{name}: the records have no fields")
    return kind, unique_names(keys), [[_json_text(r.get(k)) for r in records] for k in keys]


def _json_text(v) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)  # numbers, nested: JSON text
