"""The hostile variants of tests/fuzz_files.py, one registered function per kind.

Each takes a seed file and a seeded random.Random and returns (extension, bytes) or
(extension, bytes, {"expect" / "env" / "min_rejected" / "note": ...}). The order of the
definitions is the order of fuzz_files.KINDS, which fuzz_files.plan() follows.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
import zlib
from dataclasses import replace

from tests.fuzz_files import (
    ACCEPT,
    EITHER,
    FAR_YEARS,
    FORMULAS,
    REFUSE,
    SAME,
    cell,
    csv_bytes,
    grow,
    gzip_member,
    json_records,
    kind,
    set_cells,
    text_cell,
    to_csv,
    with_raw,
)


@kind("clean", SAME)
def _clean(s, rng):
    return ".csv", csv_bytes(s)


@kind("crlf", SAME)
def _crlf(s, rng):
    return ".csv", csv_bytes(s, line_end="\r\n")


@kind("truncated-mid-row", EITHER)
def _truncated_mid_row(s, rng):
    text = to_csv(s.header, s.rows)
    starts = [m.end() for m in re.finditer("\n", text)][1:-1]  # starts of data lines 2..n
    start = rng.choice(starts)
    end = text.index("\n", start)
    cut = rng.randrange(start + 1, end) if end > start + 1 else start + 1
    return ".csv", text[:cut].encode(), {"note": f"cut at character {cut}"}


@kind("truncated-mid-quote", REFUSE)
def _truncated_mid_quote(s, rng):
    """Every field quoted; the file ends inside the quotes of one field of a random record."""
    row = rng.randrange(1, len(s.rows))
    start = len(to_csv(s.header, s.rows[:row], quote_all=True))
    col = rng.randrange(len(s.header))
    start += sum(len(cell(v, quote_all=True)) + 1 for v in s.rows[row][:col]) + 1  # past the opening quote
    value = s.rows[row][col]
    inside = value.index('"') if '"' in value else len(value)  # never between the two of a doubled quote
    cut = start + rng.randint(0, inside)
    text = to_csv(s.header, s.rows, quote_all=True)
    return ".csv", text[:cut].encode(), {"note": f"cut inside record {row + 1}, column {s.header[col]!r}"}


@kind("stray-quote", EITHER)
def _stray_quote(s, rng):
    row, col = text_cell(s, rng)
    value = s.rows[row][s.col(col)] or "x"
    at = rng.randrange(0, len(value) + 1)
    raw = (value[:at] + '"' + value[at:]).replace(",", " ").replace("\n", " ").replace("\r", " ")
    return ".csv", with_raw(s, row, s.col(col), raw).encode(), {"note": f"row {row + 1}: {raw[:40]!r}"}


def _stray_delimiter_row(s, rng, row: int, col: int, last: str | None):
    """A comma put unquoted into cell (row, col), the record's last field set to `last` (None:
    its own, made non-empty)."""
    value = s.rows[row][col].replace('"', "").replace(",", " ").replace("\n", " ").replace("\r", " ")
    value = value if len(value.strip()) > 1 else "xy"
    at = rng.randrange(1, len(value))  # inside: both halves are text
    raw = value[:at] + "," + value[at:]
    rows = [list(r) for r in s.rows]
    rows[row][-1] = last if last is not None else (rows[row][-1] or "end")
    return ".csv", with_raw(replace(s, rows=tuple(map(tuple, rows))), row, col, raw).encode(), {
        "note": f"row {row + 1}, column {s.header[col]!r}: {raw[:40]!r}"}


@kind("stray-delimiter", REFUSE)
def _stray_delimiter(s, rng):
    row, col = text_cell(s, rng)
    return _stray_delimiter_row(s, rng, row, s.col(col), None)


@kind("stray-delimiter-last-field-empty", REFUSE)
def _stray_delimiter_last_empty(s, rng):
    """The comma goes into the last but one field, so only the last column can be misread."""
    return _stray_delimiter_row(s, rng, rng.randrange(len(s.rows)), len(s.header) - 2, "")


@kind("wrong-delimiter", SAME)
def _wrong_delimiter(s, rng):
    d = rng.choice([";", "\t", "|"])
    return ".csv", csv_bytes(s, delimiter=d), {"note": f"delimiter {d!r}"}


@kind("mixed-delimiters", EITHER)
def _mixed_delimiters(s, rng):
    d = rng.choice([";", "\t", "|"])
    head = to_csv(s.header, [], delimiter=d)
    return ".csv", (head + to_csv(s.header, s.rows).split("\n", 1)[1]).encode(), {"note": f"header {d!r}"}


@kind("bom-utf8", SAME)
def _bom_utf8(s, rng):
    return ".csv", b"\xef\xbb\xbf" + csv_bytes(s)


@kind("bom-doubled", EITHER)
def _bom_doubled(s, rng):
    return ".csv", b"\xef\xbb\xbf\xef\xbb\xbf" + csv_bytes(s)


@kind("bom-utf32", EITHER)
def _bom_utf32(s, rng):
    return ".csv", to_csv(s.header, s.rows).encode("utf-32")


@kind("utf16-bom", SAME)
def _utf16_bom(s, rng):
    codec = rng.choice(["utf-16-le", "utf-16-be"])
    bom = b"\xff\xfe" if codec == "utf-16-le" else b"\xfe\xff"
    return ".csv", bom + to_csv(s.header, s.rows).encode(codec), {"note": codec}


@kind("utf16-no-bom", SAME)
def _utf16_no_bom(s, rng):
    return ".csv", to_csv(s.header, s.rows, line_end=rng.choice(["\n", "\r\n"])).encode("utf-16-le")


@kind("cp1252", ACCEPT)
def _cp1252(s, rng):
    row = rng.choice([0, len(s.rows) - 1])
    col = rng.choice(s.texts)
    rows = set_cells(s, {(row, col): (s.rows[row][s.col(col)] + " café – 5 € für Björn").strip()})
    return ".csv", to_csv(s.header, rows).encode("cp1252", errors="replace"), {"note": f"row {row + 1}"}


@kind("invalid-utf8", EITHER)
def _invalid_utf8(s, rng):
    row, col = text_cell(s, rng)
    bad = rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    marker = "\u2063MARK\u2063"
    text = to_csv(s.header, set_cells(s, {(row, col): "x" + marker}))
    return ".csv", text.encode().replace(marker.encode(), bad), {"note": f"row {row + 1}: {bad!r}"}


@kind("json-lone-surrogate", EITHER)
def _json_lone_surrogate(s, rng):
    recs = json_records(s)
    row, col = text_cell(s, rng)
    recs[row][col] = "a\ud800b" if rng.random() < 0.5 else "\udfff"
    return ".json", json.dumps(recs, ensure_ascii=True).encode(), {"note": f"record {row + 1}"}


@kind("jsonl-lone-surrogate", EITHER)
def _jsonl_lone_surrogate(s, rng):
    recs = json_records(s)
    row, col = text_cell(s, rng)
    recs[row][col] = "x\udbff"
    return ".jsonl", "\n".join(json.dumps(r) for r in recs).encode(), {"note": f"line {row + 1}"}


@kind("nul-bytes", EITHER)
def _nul_bytes(s, rng):
    row = rng.choice([0, len(s.rows) // 2, len(s.rows) - 1])
    col = rng.choice(s.texts)
    rows = set_cells(s, {(row, col): "a\x00b" * rng.randint(1, 3)})
    return ".csv", csv_bytes(s, rows), {"note": f"row {row + 1}"}


@kind("binary-garbage", REFUSE)
def _binary_garbage(s, rng):
    return rng.choice([".csv", ".csv.gz", ".xlsx", ".json"]), rng.randbytes(rng.randint(4096, 65536))


@kind("header-then-garbage", EITHER)
def _header_then_garbage(s, rng):
    return ".csv", csv_bytes(s, s.rows[:3]) + rng.randbytes(rng.randint(100, 20000))


@kind("header-only", REFUSE)
def _header_only(s, rng):
    end = rng.choice(["", "\n", "\r\n", "\n\n\n"])
    return ".csv", to_csv(s.header, [], line_end="\n").rstrip("\n").encode() + end.encode()


@kind("empty", REFUSE)
def _empty(s, rng):
    ext, data = rng.choice([(".csv", b""), (".csv", b"\n"), (".csv", b"  \r\n\r\n"), (".csv", b"\xef\xbb\xbf"),
                            (".json", b""), (".jsonl", b"\n\n"), (".csv.gz", gzip.compress(b"")),
                            (".xlsx", b"")])
    return ext, data, {"note": repr(data[:20])}


@kind("header-repeated-in-body", EITHER)
def _header_repeated(s, rng):
    rows = [list(r) for r in s.rows]
    at = rng.randrange(1, len(rows))
    rows.insert(at, list(s.header))
    return ".csv", csv_bytes(s, rows), {"note": f"header again as record {at + 1}"}


@kind("duplicate-column-name", EITHER)
def _duplicate_column(s, rng):
    header = list(s.header)
    i, j = rng.sample(range(len(header)), 2)
    header[j] = header[i]
    return ".csv", to_csv(header, s.rows).encode(), {"note": f"column {j + 1} named {header[i]!r}"}


@kind("columns-3000", REFUSE)
def _columns_3000(s, rng):
    """Over file_limits.MAX_COLUMNS: refused before any work per column (it took 95 s and 1.45 GB)."""
    extra = 3000 - len(s.header)
    header = list(s.header) + [f"extra_{i:04d}" for i in range(extra)]
    rows = [list(r) + [rng.choice(["", "x", "42", "n/a", "a b"]) for _ in range(extra)] for r in s.rows[:40]]
    return ".csv", to_csv(header, rows).encode()


@kind("header-over-64kb", ACCEPT)
def _header_over_64kb(s, rng):
    """The header alone is longer than the 64 KB head the reader sniffs (in fewer columns than
    file_limits.MAX_COLUMNS)."""
    extra = [f"custom_field_{i:04d}_" + "x" * 130 for i in range(500)]
    rows = [list(r) + [rng.choice(["", "y", "7"]) for _ in extra] for r in s.rows[:20]]
    return ".csv", to_csv(list(s.header) + extra, rows).encode(), {"note": f"{len(s.header) + 500} columns"}


@kind("long-cell-1mb", EITHER)
def _long_cell(s, rng):
    row, col = text_cell(s, rng)
    letters = bytes(range(97, 123)) + b" " * 6  # a-z and spaces, 256 / 32 = 8 times over
    value = rng.randbytes(1 << 20).translate(letters * 8).decode()
    return ".csv", csv_bytes(s, set_cells(s, {(row, col): "long " + value})), {"note": f"row {row + 1}, {col}"}


def _formula_kind(label: str, payload: str):
    @kind(f"formula-{label}", ACCEPT)
    def _formula(s, rng):
        """OWASP: the file loads, the store holds the text as it is, every CSV export neutralises it.
        Every row of the chosen ticket gets it, so an event log's last row carries it too."""
        row, col = text_cell(s, rng)
        ids = [s.col(c) for c in s.ids]
        same = [i for i, r in enumerate(s.rows) if [r[k] for k in ids] == [s.rows[row][k] for k in ids]]
        return ".csv", csv_bytes(s, set_cells(s, {(i, col): payload for i in same})), {
            "note": f"row {row + 1}, {col}: {payload!r}", "stored": payload}


for _label, _payload in FORMULAS.items():
    _formula_kind(_label, _payload)


@kind("cr-in-quoted-cell", EITHER)
def _cr_in_quoted_cell(s, rng):
    row, col = text_cell(s, rng)
    value = (s.rows[row][s.col(col)] or "text").replace('"', "") + "\r@SUM(1+1)"
    return ".csv", with_raw(s, row, s.col(col), f'"{value}"').encode(), {"note": f"row {row + 1}, {col}"}


@kind("bare-cr-in-cell", EITHER)
def _bare_cr_in_cell(s, rng):
    """A carriage return in an unquoted cell of an LF file (csv.writer leaves it unquoted)."""
    row, col = text_cell(s, rng)
    value = (s.rows[row][s.col(col)] or "text").replace('"', "").replace(",", " ").replace("\n", " ")
    return ".csv", with_raw(s, row, s.col(col), value + "\rmore").encode(), {"note": f"row {row + 1}, {col}"}


_FEB_29 = re.compile(r"(?<!\d)29(/0?2/)|(-02-)29|(/02/)29")


def _far_kind(year: str):
    @kind(f"far-dated-{year}", EITHER)
    def _far(s, rng):
        rows = [list(r) for r in s.rows]
        picked = sorted({0, rng.randrange(len(rows))})
        for r in picked:
            for col in s.times:
                i = s.col(col)
                # 29 February becomes the 28th: the value must stay a date in the other year.
                value = _FEB_29.sub(lambda m: "28" + m.group(1) if m.group(1) else (m.group(2) or m.group(3)) + "28",
                                    rows[r][i])
                rows[r][i] = re.sub(r"(?<!\d)(19|20)\d\d(?!\d)", year, value, count=1)
        return ".csv", csv_bytes(s, rows), {"note": f"rows {[p + 1 for p in picked]}"}


for _year in FAR_YEARS:
    _far_kind(_year)


def _bad_time_kind(token: str, row: int):
    @kind(f"{token.lower().replace('/', '')}-at-row-{row}", ACCEPT)
    def _bad_time(s, rng):
        rows = grow(s, max(len(s.rows), row + 100))
        rows[row - 1][s.col(s.times[0])] = token
        return ".csv", csv_bytes(s, rows), {"min_rejected": 1, "note": f"{s.times[0]} = {token!r} on row {row}"}


for _token in ("TBD", "n/a"):
    for _row in (3, 1900):
        _bad_time_kind(_token, _row)


@kind("gzip-clean", SAME)
def _gzip_clean(s, rng):
    return ".csv.gz", gzip_member(csv_bytes(s))


@kind("gzip-corrupt-stored", REFUSE)
def _gzip_corrupt_stored(s, rng):
    """Stored (level 0) blocks hold the text as is: a changed letter is seen by the CRC alone.
    A lower-case letter becomes another one, so the text still reads as the same kind of value."""
    data = bytearray(gzip_member(csv_bytes(s), level=0))
    i = rng.randrange(len(data) // 3, 2 * len(data) // 3)
    while not (ord("a") <= data[i] <= ord("z")):
        i += 1
    data[i] = ord("a") + (data[i] - ord("a") + rng.randint(1, 25)) % 26
    return ".csv.gz", bytes(data), {"note": f"byte {i} of {len(data)} changed"}


@kind("gzip-corrupt-deflate", REFUSE)
def _gzip_corrupt_deflate(s, rng):
    data = bytearray(gzip_member(csv_bytes(s)))
    mid = len(data) // 2
    for i in range(mid, mid + rng.randint(1, 8)):
        data[i] ^= 0xFF
    return ".csv.gz", bytes(data), {"note": f"bytes flipped at {mid} of {len(data)}"}


@kind("gzip-truncated", REFUSE)
def _gzip_truncated(s, rng):
    data = gzip_member(csv_bytes(s))
    cut = rng.randrange(len(data) // 4, len(data) - 8)
    return ".csv.gz", data[:cut], {"note": f"cut at byte {cut} of {len(data)}"}


@kind("gzip-bomb", REFUSE)
def _gzip_bomb(s, rng):
    """~90 KB on disk, 20 MB of valid rows once expanded (one row repeated; gzip members
    concatenated), under a 1 MB upload limit: the limit must hold for what the file expands to,
    not only for its size on disk."""
    header = to_csv(s.header, []).encode()
    block = to_csv(s.header, [s.rows[rng.randrange(len(s.rows))]] * 2000).split("\n", 1)[1].encode()
    member = gzip_member(block)
    copies = max(1, (20 << 20) // len(block))
    return ".csv.gz", gzip_member(header) + member * copies, {
        "env": {"HYPERCARE_MAX_UPLOAD_MB": "1"}, "note": f"{copies * len(block) >> 20} MB expanded"}


@kind("gzip-bomb-zeros", REFUSE)
def _gzip_bomb_zeros(s, rng):
    header = to_csv(s.header, []).encode()
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = z.compress(header) + b"".join(z.compress(bytes(1 << 20)) for _ in range(64)) + z.flush()
    return ".csv.gz", body, {"note": "64 MB of NUL bytes"}


def _xlsx(header, rows) -> bytes:
    """An XLSX workbook of text cells, byte for byte the same for the same rows (openpyxl stamps
    the time of writing into the document properties and the zip entries; both are fixed here)."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(list(header))
    for r in rows:
        ws.append([v if v != "" else None for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@kind("xlsx-clean", SAME)
def _xlsx_clean(s, rng):
    return ".xlsx", _xlsx(s.header, s.rows)


@kind("xlsx-many-rows", ACCEPT)
def _xlsx_many_rows(s, rng):
    return ".xlsx", _xlsx(s.header, grow(s, 4000)), {"note": f"4,000 rows x {len(s.header)} columns"}


@kind("json-clean", SAME)
def _json_clean(s, rng):
    doc = json_records(s)
    if rng.random() < 0.5:
        doc = {"meta": {"count": len(doc)}, "incidents": doc}
    return ".json", json.dumps(doc).encode()


@kind("jsonl-clean", SAME)
def _jsonl_clean(s, rng):
    return ".jsonl", "\n".join(json.dumps(r) for r in json_records(s)).encode()


@kind("json-deep", REFUSE)
def _json_deep(s, rng):
    depth = rng.choice([2_000, 100_000])
    return rng.choice([".json", ".jsonl"]), ("[" * depth + "]" * depth).encode(), {"note": f"depth {depth:,}"}


@kind("json-deep-in-record", EITHER)
def _json_deep_in_record(s, rng):
    recs = json_records(s)
    depth = rng.choice([20, 200, 900])
    row, col = text_cell(s, rng)
    text = json.dumps(recs)
    marker = json.dumps(recs[row][col])
    nested = '{"a":' * depth + "1" + "}" * depth
    head, sep, tail = text.partition(f'"{col}": {marker}')
    return ".json", (head + f'"{col}": {nested}' + tail).encode(), {"note": f"depth {depth}"}


@kind("json-not-a-list-of-objects", REFUSE)
def _json_not_list(s, rng):
    doc = rng.choice(['"text"', "42", "null", "true", "[1, 2, 3]", '[["a", "b"], ["c", "d"]]', '{"a": 1}',
                      '{"incidents": "none"}', "[]", "{}", '[{"id": 1}, 2]', '[{}, {}]'])
    return rng.choice([".json", ".jsonl"]), doc.encode(), {"note": doc}


@kind("duplicate-ids", ACCEPT)
def _duplicate_ids(s, rng):
    rows = [list(r) for r in s.rows]
    for _ in range(rng.randint(1, 5)):
        a, b = rng.sample(range(len(rows)), 2)
        for col in s.ids:
            rows[b][s.col(col)] = rows[a][s.col(col)]
    return ".csv", csv_bytes(s, rows)


@kind("ids-missing", ACCEPT)
def _ids_missing(s, rng):
    picked = rng.sample(range(len(s.rows)), rng.randint(1, 5))
    col = s.ids[-1]
    rows = set_cells(s, {(r, col): rng.choice(["", " ", "?"]) for r in picked})
    return ".csv", csv_bytes(s, rows), {"min_rejected": len(picked), "note": f"{col} blank on rows {sorted(p + 1 for p in picked)}"}


@kind("ids-all-missing", REFUSE)
def _ids_all_missing(s, rng):
    return ".csv", csv_bytes(s, set_cells(s, {(r, c): "" for r in range(len(s.rows)) for c in s.ids}))


@kind("required-column-missing", EITHER)
def _required_column_missing(s, rng):
    drop = s.col(rng.choice([s.ids[-1], s.times[0]]))
    header = [h for i, h in enumerate(s.header) if i != drop]
    rows = [[v for i, v in enumerate(r) if i != drop] for r in s.rows]
    return ".csv", to_csv(header, rows).encode(), {"note": f"without {s.header[drop]!r}"}


@kind("shuffled-columns", SAME)
def _shuffled_columns(s, rng):
    order = list(range(len(s.header)))
    rng.shuffle(order)
    return ".csv", to_csv([s.header[i] for i in order], [[r[i] for i in order] for r in s.rows]).encode()
