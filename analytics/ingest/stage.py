"""An upload's first half, away from the store: read, detect, map, parse, reject and stage the
file on a private in-memory DuckDB.

None of it needs the stored data, so none of it holds the store's write turn: a slow or
hostile file keeps no other upload or settings change waiting. What the store's half
(analytics/ingest/pipeline.py) needs leaves as Arrow tables — DuckDB cannot attach another connection's
in-memory database — under the names its SQL reads: _stage (tickets, with row_hash and
version_at), _hist (status history), _dups (duplicated ids) and _rejects (rejected rows).
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from analytics.ingest import compare
from analytics.ingest.detect import Detection, detect, guess_generic, unnamed_required
from analytics.ingest.events import build_stage_events, build_stage_history
from analytics.ingest.file_limits import FileRejected
from analytics.ingest.profiles import Profile, ProfileError, all_profiles
from analytics.ingest.readers import RawFile, load_raw, load_raw_path, read_bytes
from analytics.ingest.timeparse import TimestampFormatError, TimestampGuess, check_timezone
from analytics.ingest.transform import (
    Plan,
    build_maps,
    build_rows,
    count_without_priority,
    plan,
    plan_warnings,
    qident,
    stage_tickets_query,
    status_values,
)
from analytics.store import db

DEFAULT_MAX_UPLOAD_MB = 200
MIN_CONFIDENCE = 0.6
# An inspection reads only this many rows of an XLSX file (openpyxl took 107 s for 1M rows):
# enough for the preview and the timestamp sample; the upload itself reads them all.
PREVIEW_XLSX_ROWS = 10_000


class IngestError(ValueError):
    """The upload was refused; str() names the file (and row) and the reason."""


@contextmanager
def timed(timings: dict[str, float], stage: str):
    """Adds the block's seconds to timings[stage]."""
    start = time.perf_counter()
    yield
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 4)


@dataclass
class Inspection:
    file_name: str
    columns: list[str]
    preview: pd.DataFrame
    rows: int
    format: str
    encoding: str
    delimiter: str | None
    detections: list[Detection]
    profile: Profile
    timestamps: list[TimestampGuess]
    severity_values: dict[str, str | None]
    status_values: dict[str, tuple[str, str | None]]
    mapping: dict[str, str | None]
    missing: dict[str, str]
    rows_read_all: bool = True  # False: an XLSX file of which only PREVIEW_XLSX_ROWS were read;
    # then `rows` is the count the sheet declares (blank rows included), or the rows read if none


@dataclass
class Staged:
    """A read and checked upload, ready for the store (ingest.pipeline.apply_staged); close() it after."""

    raw: RawFile  # its table lives on `con`
    profile: Profile
    zone: str
    rows_rejected: int
    duplicate_rows: int
    duplicate_ids: int
    unmapped_severities: dict[str, int]
    tickets_without_priority: int
    warnings: list[str]
    tables: dict[str, pa.Table]
    timings: dict[str, float] = field(default_factory=dict)
    # Kept open for a history file only: which of its rows are rejects depends on the store.
    con: duckdb.DuckDBPyConnection | None = None

    @property
    def layout(self) -> str:
        return self.profile.source.layout

    def orphan_rejects(self, ticket_ids: pa.Table) -> pa.Table:
        """Rejects (row_number, reason, raw) for the accepted rows of tickets the store lacks."""
        assert self.con is not None, "only a history file's rows depend on the store"
        label = self.profile.source.source_label
        cur = self.con  # not a cursor: _rows and the raw table are its temp tables
        cur.register("_missing", ticket_ids)
        return cur.sql(
            f"SELECT x.__row AS row_number, $no_ticket || x.f_external_id || $not_stored AS reason, "
            f"to_json(r) AS raw FROM _rows x JOIN {qident(self.raw.table)} r ON r.__row = x.__row "
            "WHERE x._reason IS NULL AND $label || ':' || x.f_external_id IN (SELECT ticket_id FROM _missing)",
            params={"no_ticket": f"no ticket {label}:", "not_stored": " in the store; upload the tickets file first",
                    "label": label}).to_arrow_table()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def max_upload_bytes(con=None) -> int:
    env = os.environ.get("HYPERCARE_MAX_UPLOAD_MB")
    mb = float(env) if env else float(db.get_setting(con, "max_upload_mb", str(DEFAULT_MAX_UPLOAD_MB))
                                      if con is not None else DEFAULT_MAX_UPLOAD_MB)
    return int(mb * 1024 * 1024)


def upload_settings(con) -> tuple[int, str]:
    """(upload limit in bytes, default time zone) from the store's settings."""
    return max_upload_bytes(con), db.get_setting(con, "default_timezone", "UTC") or "UTC"


def private_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory database of this upload's own (Ctrl-C interrupts it like the store's)."""
    con = duckdb.connect(":memory:")
    db.open_connections.add(con)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _timezone(default_tz: str, profile: Profile, tz: str | None) -> str:
    return check_timezone(tz or profile.timestamps.timezone or default_tz or "UTC")


def _open(cur, path, data, name, max_bytes, delimiter=None, preview_rows=None) -> RawFile:
    table = f"_raw_{uuid.uuid4().hex[:12]}"
    if data is None and path is not None and Path(path).exists():
        return load_raw_path(cur, Path(path), table=table, name=name, max_bytes=max_bytes, delimiter=delimiter,
                             preview_rows=preview_rows)
    display, raw = read_bytes(data if data is not None else path, name)
    return load_raw(cur, display, raw, table=table, max_bytes=max_bytes, delimiter=delimiter,
                    preview_rows=preview_rows)


def _refuse_unchecked_guess(raw: RawFile, detections: list[Detection]) -> None:
    """Loading without a person: a generic guess that had to invent the id or opened time is refused."""
    gaps = unnamed_required(raw.columns)
    if not gaps:
        return
    closest = next((d for d in detections if d.profile_name != "generic"), None)
    near = f"the closest profile is '{closest.profile_name}' ({closest.reason}); " if closest else ""
    raise IngestError(
        f"{raw.name}: no profile fits this file and no column is named like {' or '.join(gaps)}; "
        f"{near}give --profile NAME (or a profile file), or load it on the Upload page and map the columns")


def _choose(raw: RawFile, source: str, profile: Profile | None, profiles_dir) -> tuple[Profile, list[Detection]]:
    if profile is not None:
        return profile, detect(raw.columns, [profile])
    candidates = detect(raw.columns, all_profiles(profiles_dir), source)
    if candidates and candidates[0].confidence >= MIN_CONFIDENCE:
        return candidates[0].profile, candidates
    if source not in ("auto", "generic", "", None) and not candidates:
        raise IngestError(f"{raw.name}: no profile for source '{source}'")
    guess = guess_generic(raw.columns)
    gen = Detection("generic", 0.3, "no profile fits; columns guessed from their names — check the mapping", guess)
    return guess, [gen] + candidates


def _wrap(fn, name):
    try:
        return fn()
    except FileRejected as exc:
        raise IngestError(str(exc)) from exc
    except (ProfileError, TimestampFormatError) as exc:
        raise IngestError(f"{Path(str(name)).name if name else 'upload'}: {exc}") from exc


def inspect_file(con, path=None, *, data: bytes | None = None, name: str | None = None,
                 source: str = "auto", profile: Profile | None = None, tz: str | None = None,
                 max_bytes: int | None = None, profiles_dir=None, delimiter: str | None = None) -> Inspection:
    """What an upload would do, without writing anything: detection, mapping, formats, preview."""
    cur = con.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    limit, default_tz = upload_settings(con)
    limit = max_bytes if max_bytes is not None else limit
    raw = _wrap(lambda: _open(cur, path, data, name, limit, delimiter, PREVIEW_XLSX_ROWS), name or path)
    try:
        chosen, detections = _choose(raw, source, profile, profiles_dir)
        zone = _wrap(lambda: _timezone(default_tz, chosen, tz), raw.name)
        pl = plan(cur, raw.table, raw.columns, chosen, zone)
        preview = cur.execute(f"SELECT * EXCLUDE (__row) FROM {qident(raw.table)} ORDER BY __row LIMIT 50").df()
        return Inspection(
            file_name=raw.name, columns=raw.columns, preview=preview,
            rows=raw.rows if raw.complete else max(raw.declared_rows or 0, raw.rows), format=raw.format,
            encoding=raw.encoding, delimiter=raw.delimiter, detections=detections, profile=chosen,
            timestamps=list(pl.timestamps.values()), severity_values=pl.severity_values,
            status_values=status_values(cur, raw.table, pl, chosen),
            mapping={f: pl.columns.get(f) for f in chosen.columns}, missing=pl.missing,
            rows_read_all=raw.complete,
        )
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {qident(raw.table)}")


def stage_file(path=None, *, data: bytes | None = None, name: str | None = None, source: str = "auto",
               profile: Profile | None = None, tz: str | None = None, max_bytes: int | None = None,
               profiles_dir=None, delimiter: str | None = None, default_tz: str = "UTC") -> Staged:
    """Read and check one export without the store. Raises IngestError when it is refused.

    `max_bytes` and `default_tz` are the store's settings (upload_settings) as the caller read them."""
    con = private_connection()
    try:
        limit = max_bytes if max_bytes is not None else max_upload_bytes()
        timings: dict[str, float] = {}
        with timed(timings, "read"):
            raw = _wrap(lambda: _open(con, path, data, name, limit, delimiter), name or path)
        chosen, detections = _wrap(lambda: _choose(raw, source, profile, profiles_dir), raw.name)
        if profile is None and detections[0].profile_name == "generic":
            _refuse_unchecked_guess(raw, detections)
        zone = _wrap(lambda: _timezone(default_tz, chosen, tz), raw.name)
        staged = _stage(con, raw, chosen, zone, timings)
    except BaseException:
        con.close()
        raise
    if staged.layout != "history":
        con.close()  # everything the store's half needs is in the Arrow tables
    else:
        staged.con = con
    return staged


def _check_plan(raw: RawFile, profile: Profile, pl: Plan) -> None:
    needed = ["external_id"] + (["opened_at"] if profile.source.layout == "tickets" else ["event_time"])
    absent = [f for f in needed if f not in pl.columns]
    if absent:
        detail = "; ".join(f"{f} → column '{pl.missing.get(f, '?')}'" for f in absent)
        raise IngestError(
            f"{raw.name}: the profile '{profile.source.name}' needs columns this file lacks ({detail}); "
            f"the file's columns are: {', '.join(raw.columns[:20])}"
        )
    for guess in pl.timestamps.values():
        if guess.total and guess.parsed == 0:
            raise IngestError(
                f"{raw.name}: no value of column '{guess.column}' (for {guess.field}) reads as a timestamp "
                f"in format {guess.format}; e.g. '{guess.unparsed[0] if guess.unparsed else ''}' — "
                "set the format on the Upload page or in the profile's [timestamps]"
            )


def nothing_loads(name: str, rows: int, first: tuple | None) -> IngestError:
    """The refusal of a file none of whose rows loads; `first` is (row, reason) of its first reject."""
    detail = f"row {first[0]}: {first[1]}" if first else "no rows"
    return IngestError(f"{name}: none of the {rows:,} rows could be loaded (first problem, {detail})")


def _stage(cur, raw: RawFile, profile: Profile, zone: str, timings: dict[str, float]) -> Staged:
    with timed(timings, "plan"):
        pl = plan(cur, raw.table, raw.columns, profile, zone)
        _check_plan(raw, profile, pl)
    layout = profile.source.layout
    with timed(timings, "rows"):
        rows_q = build_rows(cur, raw.table, profile, pl, zone, slim=layout == "tickets")
        build_maps(cur, profile, pl)
    with timed(timings, "compare"):
        dup, dup_ids = compare.duplicates(cur, layout)
        rejected = cur.execute("SELECT count(*) FROM _rows WHERE _reason IS NOT NULL").fetchall()[0][0]
    if rejected == raw.rows:
        first = cur.execute("SELECT __row, _reason FROM _rows ORDER BY __row LIMIT 1").fetchall()
        raise nothing_loads(raw.name, raw.rows, first[0] if first else None)
    tables: dict[str, pa.Table] = {}
    with timed(timings, "stage"):
        if layout == "tickets":
            query, params = stage_tickets_query(profile, pl, rows_q, has_dups=dup_ids > 0, has_rejects=rejected > 0)
            tables["_stage"] = cur.sql(query, params=params).to_arrow_table()
            cur.register("_stage", tables["_stage"])
        elif layout == "event_log":
            build_stage_events(cur, profile, pl)
        else:
            build_stage_history(cur, profile, pl)
        for name in ("_stage", "_hist"):
            if name not in tables and compare.has(cur, name):
                tables[name] = cur.sql(f"SELECT * FROM {name}").to_arrow_table()
        tables["_dups"] = cur.sql("SELECT external_id, row_numbers FROM _dups").to_arrow_table()
        tables["_rejects"] = cur.sql(
            f"SELECT x.__row AS row_number, x._reason AS reason, to_json(r) AS raw FROM _rows x "
            f"JOIN {qident(raw.table)} r ON r.__row = x.__row WHERE x._reason IS NOT NULL").to_arrow_table()
        unmapped = _unmapped(cur, pl, layout)
        no_priority = count_without_priority(cur, layout)
    return Staged(raw=raw, profile=profile, zone=zone, rows_rejected=rejected, duplicate_rows=dup,
                  duplicate_ids=dup_ids, unmapped_severities=unmapped, tickets_without_priority=no_priority,
                  warnings=plan_warnings(profile, pl) + formula_warnings(raw.formula_cells), tables=tables,
                  timings=timings)


def formula_warnings(cells: dict[str, int]) -> list[str]:
    """The upload's note on cells that start like a spreadsheet formula (none: no note)."""
    if not cells:
        return []
    total = sum(cells.values())
    where = (f"in column '{next(iter(cells))}'" if len(cells) == 1
             else "(" + ", ".join(f"'{c}' {n:,}" for c, n in cells.items()) + ")")
    return [f"{total:,} cell{'s' if total > 1 else ''} {where} start{'' if total > 1 else 's'} like a spreadsheet "
            "formula (=, +, -, @, tab or CR first): stored as they are, and neutralised with a leading ' in "
            "every CSV and XLSX export"]


def _unmapped(cur, pl: Plan, layout: str) -> dict[str, int]:
    bad = [v for v, sev in pl.severity_values.items() if sev is None]
    if not bad:
        return {}
    if layout != "history":
        rows = cur.execute(
            "SELECT priority_raw, count(*) FROM _stage WHERE severity IS NULL AND priority_raw IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    else:
        rows = cur.execute(
            "SELECT f_severity, count(DISTINCT f_external_id) FROM _rows WHERE _reason IS NULL "
            "AND list_contains($bad, f_severity) GROUP BY 1 ORDER BY 2 DESC", {"bad": bad}
        ).fetchall()
    return {r[0]: r[1] for r in rows}
