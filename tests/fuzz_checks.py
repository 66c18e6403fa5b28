"""The checks every fuzzed upload must pass (issue #14), shared by tests/test_fuzz.py and bench/fuzz.py.

`run_case` copies the template store, runs `python -m analytics ingest FILE --db STORE --json`
in-process through `run_cli` (the caller decides how stdout/stderr are captured) and returns an
Outcome whose `problems` lists every broken rule:
- exit code 0, or 1/2 (the CLI's documented codes for a refused upload / a bad input);
- refused: stderr is one line "error: ..." naming the file, never a traceback or an
  "internal error", and every table of the store is exactly as before;
- accepted: one JSON object on stdout, rows_read = rows_loaded + rows_rejected, the dataset row
  and its rejects agree with it, tickets are unique by (source, external_id) and by ticket_id,
  and `tickets --csv` has one record per ticket and no cell a spreadsheet would run;
- a variant with `stored` text (the formula kinds): the store holds it exactly as uploaded (in a
  ticket, its status history or a rejected row), and `sla --csv` runs no formula either;
- the kind's expectation (accept / refuse / same store as the clean excerpt / min. rejects);
- no stored timestamp outside analytics/store/time_range.py's span (such rows are to be rejected);
- at most MAX_CPU_SECONDS of CPU (this process, DuckDB's threads included: other jobs on a
  shared machine do not count), MAX_SECONDS of wall time (a hang) and MAX_RSS_GROWTH_MB of
  peak-RSS growth for the upload.
"""

from __future__ import annotations

import contextlib
import csv
import filecmp
import hashlib
import io
import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analytics.store import time_range
from analytics.store.csv_export import FORMULA_FIRST_CHARS
from analytics.store.schema import TICKET_FIELDS, TIMESTAMP_FIELDS
from tests.fuzz_files import ACCEPT, REFUSE, SAME, Variant

MAX_CPU_SECONDS = 20.0
MAX_SECONDS = 60.0
MAX_RSS_GROWTH_MB = 1024
DOCUMENTED_CODES = (1, 2)  # cli.cmd_ingest: a refused file; cli_errors.EXIT_USAGE: an unreadable input
FORMULA_START = FORMULA_FIRST_CHARS
COUNTS = ("rows_read", "rows_loaded", "rows_rejected", "tickets_inserted", "tickets_updated",
          "tickets_unchanged", "duplicate_rows", "unmapped_severities")
# What an upload wrote, independent of when and as which dataset: compared for SAME kinds.
CONTENT = {
    "tickets": "SELECT * EXCLUDE (dataset_id, loaded_at) FROM tickets ORDER BY ALL",
    "status_history": "SELECT * EXCLUDE (dataset_id) FROM status_history ORDER BY ALL",
    "rejects": "SELECT row_number, reason FROM rejects ORDER BY ALL",
    "recurrence_signatures": "SELECT * FROM recurrence_signatures ORDER BY ALL",
    "recurrence_clusters": "SELECT * FROM recurrence_clusters ORDER BY ALL",
}

RunCli = Callable[[list[str]], tuple[int, str, str]]


@dataclass
class Outcome:
    name: str
    kind: str
    seed_name: str
    code: int | None
    seconds: float
    cpu_seconds: float
    rss_growth_mb: float
    result: dict | None = None
    err: str = ""
    problems: list[str] = field(default_factory=list)
    content: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.code == 0


def rows_digest(rows) -> str:
    return hashlib.sha256(repr(rows).encode("utf-8", "backslashreplace")).hexdigest()


def table_digests(path: Path) -> dict[str, str]:
    """sha256 of `SELECT * FROM t ORDER BY ALL` for every table of the store."""
    con = duckdb.connect(str(path))
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
            "ORDER BY 1").fetchall()]
        return {t: rows_digest(con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()) for t in tables}
    finally:
        con.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def environment(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def capture_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process with stdout (text and bytes) and stderr captured (for scripts;
    the tests use pytest's capsys)."""
    from analytics.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.buffer.getvalue().decode("utf-8", "replace"), err.getvalue()


def run_case(variant: Variant, template: Path, before: dict[str, str], workdir: Path, run_cli: RunCli,
             reference: Outcome | None = None, keep: bool = False) -> Outcome:
    """Upload `variant` into a copy of `template` (whose table digests are `before`) and check it.
    `reference` is the clean excerpt's outcome, for SAME kinds."""
    store = workdir / f"{variant.name}.duckdb"
    upload = workdir / variant.file_name
    shutil.copyfile(template, store)
    upload.write_bytes(variant.data)
    rss, cpu = peak_rss_mb(), cpu_seconds()
    start = time.perf_counter()
    try:
        with environment(variant.env):
            code, out, err = run_cli(["ingest", str(upload), "--db", str(store), "--json"])
        crash = None
    except BaseException as exc:  # noqa: BLE001 - the CLI itself must never raise
        code, out, err, crash = None, "", "", exc
    o = Outcome(variant.name, variant.case.kind, variant.case.seed_name, code, time.perf_counter() - start,
                cpu_seconds() - cpu, peak_rss_mb() - rss, err=err)
    p = o.problems
    if crash is not None:
        p.append(f"the CLI raised {type(crash).__name__}: {crash}")
    if o.cpu_seconds > MAX_CPU_SECONDS:
        p.append(f"took {o.cpu_seconds:.1f} s of CPU (limit {MAX_CPU_SECONDS:.0f} s)")
    if o.seconds > MAX_SECONDS:
        p.append(f"took {o.seconds:.1f} s (limit {MAX_SECONDS:.0f} s)")
    if o.rss_growth_mb > MAX_RSS_GROWTH_MB:
        p.append(f"peak RSS grew by {o.rss_growth_mb:,.0f} MB (limit {MAX_RSS_GROWTH_MB:,} MB)")
    if "Traceback" in out + err:
        p.append("a traceback was printed")
    if crash is None:
        if code == 0:
            _check_accepted(o, out, err, store, variant, run_cli, reference)
        else:
            _check_refused(o, err, store, template, variant, before)
    if not keep:
        store.unlink(missing_ok=True)
        upload.unlink(missing_ok=True)
    return o


def _check_refused(o: Outcome, err: str, store: Path, template: Path, variant: Variant,
                   before: dict[str, str]) -> None:
    p = o.problems
    if o.code not in DOCUMENTED_CODES:
        p.append(f"exit code {o.code} is not one of the documented {DOCUMENTED_CODES}")
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("error:"):
        p.append(f"stderr is not one 'error:' line: {err[:300]!r}")
    elif variant.file_name not in lines[0]:
        p.append(f"the error does not name the file {variant.file_name}: {lines[0][:300]!r}")
    if "internal error" in err:
        p.append(f"an internal error: {err[:300]!r}")
    # The same bytes are the same tables; otherwise (a checkpoint may rewrite the file) compare them.
    after = before if filecmp.cmp(store, template, shallow=False) else table_digests(store)
    changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
    if changed:
        p.append(f"refused, but the store changed: {changed}")
    if variant.expect in (ACCEPT, SAME):
        p.append(f"refused a file that must load: {err.strip()[:300]}")


def _check_accepted(o: Outcome, out: str, err: str, store: Path, variant: Variant, run_cli: RunCli,
                    reference: Outcome | None) -> None:
    p = o.problems
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        (o.result,) = [json.loads(line) for line in lines]
    except ValueError:
        p.append(f"stdout is not one JSON object: {out[:300]!r}")
        return
    r = o.result
    if err.strip():
        p.append(f"accepted, but stderr says: {err[:300]!r}")
    if r["rows_read"] != r["rows_loaded"] + r["rows_rejected"]:
        p.append(f"rows_read {r['rows_read']} != rows_loaded {r['rows_loaded']} + rows_rejected {r['rows_rejected']}")
    if variant.expect == REFUSE:
        p.append(f"accepted a file that must be refused ({variant.note or variant.case.kind}): "
                 f"{r['rows_loaded']} rows loaded, {r['tickets_inserted']} tickets inserted")
    if r["rows_rejected"] < variant.min_rejected and r.get("duplicate_of") is None:
        p.append(f"{variant.note}: only {r['rows_rejected']} rows rejected, expected at least {variant.min_rejected}")
    csv_records = _csv_export(store, run_cli, p)
    if variant.stored:
        _csv_cells(run_cli, ["sla", "--csv", "--db", str(store)], p)
    con = duckdb.connect(str(store))
    try:
        _check_store(con, r, p)
        if variant.stored:
            _check_stored(con, variant.stored, p)
        tickets = con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
        if variant.expect == SAME:  # the clean excerpt (the reference) is SAME too
            o.content = {t: rows_digest(con.execute(sql).fetchall()) for t, sql in CONTENT.items()}
    finally:
        con.close()
    if csv_records is not None and csv_records != tickets:
        p.append(f"tickets --csv has {csv_records} records for {tickets} tickets")
    if variant.expect == SAME and reference is not None:
        if reference.result is None:
            p.append("the clean excerpt of this seed file was not loaded; nothing to compare with")
        else:
            counts = {k: (r.get(k), reference.result.get(k)) for k in COUNTS if r.get(k) != reference.result.get(k)}
            if counts:
                p.append(f"counts differ from the clean excerpt's (this, clean): {counts}")
            tables = sorted(t for t in CONTENT if o.content[t] != reference.content.get(t))
            if tables:
                p.append(f"the store differs from the clean excerpt's in {tables}")


def _check_store(con, r: dict, p: list[str]) -> None:
    dup = con.execute("SELECT source, external_id, count(*) FROM tickets GROUP BY ALL HAVING count(*) > 1 "
                      "LIMIT 3").fetchall()
    if dup:
        p.append(f"tickets not unique by (source, external_id): {dup}")
    if con.execute("SELECT count(*) - count(DISTINCT ticket_id) FROM tickets").fetchall()[0][0]:
        p.append("tickets not unique by ticket_id")
    stamps = " OR ".join(f"{c} NOT BETWEEN ? AND ?" for c in TIMESTAMP_FIELDS)
    span = [time_range.EARLIEST, time_range.LATEST]
    far = con.execute(f"SELECT ticket_id, {', '.join(TIMESTAMP_FIELDS)} FROM tickets WHERE {stamps} LIMIT 1",
                      span * len(TIMESTAMP_FIELDS)).fetchall()
    far += con.execute("SELECT ticket_id, event_time FROM status_history WHERE event_time NOT BETWEEN ? AND ? LIMIT 1",
                       span).fetchall()
    if far:
        p.append(f"a timestamp outside {time_range.RANGE_TEXT} was stored: "
                 f"{[[v for v in row if v is not None] for row in far]}")
    if r.get("duplicate_of") is not None:
        return
    row = con.execute("SELECT rows_read, rows_loaded, rows_rejected FROM datasets WHERE dataset_id = ?",
                      [r["dataset_id"]]).fetchall()
    if row != [(r["rows_read"], r["rows_loaded"], r["rows_rejected"])]:
        p.append(f"dataset {r['dataset_id']} row {row} does not match the printed counts")
    kept = con.execute("SELECT count(*) FROM rejects WHERE dataset_id = ?", [r["dataset_id"]]).fetchall()[0][0]
    if kept != r["rows_rejected"]:
        p.append(f"{r['rows_rejected']} rows rejected but {kept} kept in rejects")


def _csv_export(store: Path, run_cli: RunCli, p: list[str]) -> int | None:
    """`tickets --csv`, parsed: the number of records; a problem for each cell a spreadsheet runs."""
    records = _csv_cells(run_cli, ["tickets", "--csv", "--db", str(store)], p)
    return None if records is None else len(records) - 1


def _csv_cells(run_cli: RunCli, argv: list[str], p: list[str]) -> list[list[str]] | None:
    """The records a CSV command prints; a problem for each cell a spreadsheet runs."""
    what = " ".join(argv[:2])
    code, out, err = run_cli(argv)
    if code != 0:
        p.append(f"{what} failed ({code}): {err[:300]!r}")
        return None
    csv.field_size_limit(1 << 30)  # the 1 MB cells
    records = list(csv.reader(io.StringIO(out, newline="")))
    bad = [(i, c) for i, rec in enumerate(records) for c in rec if c.startswith(FORMULA_START)]
    if bad:
        p.append(f"{what} has cells a spreadsheet runs as formulas: {bad[:3]}")
    return records


_TEXT = [n for n, t in TICKET_FIELDS if t == "VARCHAR"]


def _check_stored(con, text: str, p: list[str]) -> None:
    """`text`, a cell of the upload, is in the store as it was: never refused, trimmed or neutralised."""
    found = con.execute(f"SELECT count(*) FROM tickets WHERE ? IN ({', '.join(_TEXT)})", [text]).fetchall()[0][0]
    found += con.execute("SELECT count(*) FROM status_history WHERE ? IN (status, team, tier)", [text]).fetchall()[0][0]
    raws = [json.loads(r) for (r,) in con.execute("SELECT raw FROM rejects").fetchall()]
    found += sum(text in r.values() for r in raws)
    if not found:
        p.append(f"the upload's {text!r} is in no ticket, status history or rejected row as it was")

