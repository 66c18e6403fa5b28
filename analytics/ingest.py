"""Uploading one export: read, detect, map, validate, and upsert — all or nothing.

An upload is one dataset record and one transaction. Rows that cannot be loaded are kept in
`rejects` with their row number and reason, and the counts always reconcile:
rows_read = rows_loaded + rows_rejected. Tickets upsert by (source, external id), so the same
or an updated export never duplicates anything; uploading the very same file again (same
sha256, nothing changed) writes nothing at all — not even an audit record, since nothing happened.
Each upload that writes appends an "upload" audit record inside its own transaction.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import audit, auth, db, ingest_compare, recurrence
from .detect import Detection, detect, guess_generic, unnamed_required
from .profiles import Profile, ProfileError, all_profiles
from .readers import FileRejected, RawFile, load_raw, load_raw_path, read_bytes
from .schema import DERIVED_TICKET_COLUMNS, TICKET_COLUMNS
from .timeparse import TimestampFormatError, TimestampGuess, check_timezone
from .transform import (Plan, build_maps, build_rows, build_stage_tickets, count_without_priority, plan,
                        plan_warnings, qident, status_values)
from .transform_events import build_stage_events, build_stage_history, restamp_resolution

DEFAULT_MAX_UPLOAD_MB = 200
MIN_CONFIDENCE = 0.6
# An inspection reads only this many rows of an XLSX file (openpyxl took 107 s for 1M rows):
# enough for the preview and the timestamp sample; the upload itself reads them all.
PREVIEW_XLSX_ROWS = 10_000


class IngestError(ValueError):
    """The upload was refused; str() names the file (and row) and the reason."""


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    start = time.perf_counter()
    yield
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 4)


@dataclass
class IngestResult:
    dataset_id: int | None
    file_name: str
    source: str
    profile_name: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    tickets_inserted: int
    tickets_updated: int
    tickets_unchanged: int
    duplicate_rows: int = 0
    duplicate_of: int | None = None
    unmapped_severities: dict[str, int] = field(default_factory=dict)
    tickets_without_priority: int = 0  # tickets with no priority/severity value at all
    # Source column -> its cells that start like a spreadsheet formula: stored as they are,
    # neutralised in every export (analytics/csv_export.py); `warnings` says so too.
    formula_cells: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Seconds per stage (read, plan, rows, stage, compare, write): for benchmarks and support.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"Loaded {self.file_name}: {self.rows_read:,} rows read · {self.rows_loaded:,} loaded · "
            f"{self.rows_rejected:,} rejected · {self.tickets_inserted:,} inserted · "
            f"{self.tickets_updated:,} updated · {self.tickets_unchanged:,} unchanged"
        )
        if self.tickets_without_priority:
            text += f" · {self.tickets_without_priority:,} tickets without a priority value"
        if self.duplicate_of is not None:
            text += f" (identical to dataset {self.duplicate_of}; nothing was written)"
        return text


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


def max_upload_bytes(con=None) -> int:
    env = os.environ.get("HYPERCARE_MAX_UPLOAD_MB")
    mb = float(env) if env else float(db.get_setting(con, "max_upload_mb", str(DEFAULT_MAX_UPLOAD_MB))
                                      if con is not None else DEFAULT_MAX_UPLOAD_MB)
    return int(mb * 1024 * 1024)


def _timezone(con, profile: Profile, tz: str | None) -> str:
    chosen = tz or profile.timestamps.timezone or db.get_setting(con, "default_timezone", "UTC") or "UTC"
    return check_timezone(chosen)


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


def inspect_file(con, path=None, *, data: bytes | None = None, name: str | None = None,
                 source: str = "auto", profile: Profile | None = None, tz: str | None = None,
                 max_bytes: int | None = None, profiles_dir=None, delimiter: str | None = None) -> Inspection:
    """What an upload would do, without writing anything: detection, mapping, formats, preview."""
    cur = con.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    limit = max_bytes if max_bytes is not None else max_upload_bytes(con)
    raw = _wrap(lambda: _open(cur, path, data, name, limit, delimiter, PREVIEW_XLSX_ROWS), name or path)
    try:
        chosen, detections = _choose(raw, source, profile, profiles_dir)
        zone = _wrap(lambda: _timezone(con, chosen, tz), raw.name)
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


def _wrap(fn, name):
    try:
        return fn()
    except FileRejected as exc:
        raise IngestError(str(exc)) from exc
    except (ProfileError, TimestampFormatError) as exc:
        raise IngestError(f"{Path(str(name)).name if name else 'upload'}: {exc}") from exc


def ingest_file(con, path=None, *, data: bytes | None = None, name: str | None = None,
                source: str = "auto", profile: Profile | None = None, tz: str | None = None,
                uploaded_by: auth.Identity | str = "local", max_bytes: int | None = None, profiles_dir=None,
                delimiter: str | None = None) -> IngestResult:
    """Load one export into the store. Raises IngestError (database untouched) on refusal.

    `uploaded_by` is who loads it (recorded by its label); auth.PermissionDenied unless that
    identity may upload (a plain name is a local operator)."""
    uploaded_by = auth.require(uploaded_by, auth.Permission.UPLOAD).label
    with db.write_lock:
        cur = con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        limit = max_bytes if max_bytes is not None else max_upload_bytes(con)
        timings: dict[str, float] = {}
        with _timed(timings, "read"):
            raw = _wrap(lambda: _open(cur, path, data, name, limit, delimiter), name or path)
        try:
            chosen, detections = _wrap(lambda: _choose(raw, source, profile, profiles_dir), raw.name)
            if profile is None and detections[0].profile_name == "generic":
                _refuse_unchecked_guess(raw, detections)
            zone = _wrap(lambda: _timezone(con, chosen, tz), raw.name)
            return _ingest(cur, raw, chosen, zone, uploaded_by, timings)
        finally:
            for t in (raw.table, "_rows", "_stage", "_hist", "_cmp", "_dups", "_sevmap", "_statmap", "_typemap",
                      "_cfg"):
                cur.execute(f"DROP TABLE IF EXISTS {qident(t)}")


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


def _ingest(cur, raw: RawFile, profile: Profile, zone: str, uploaded_by: str,
            timings: dict[str, float]) -> IngestResult:
    with _timed(timings, "plan"):
        pl = plan(cur, raw.table, raw.columns, profile, zone)
        _check_plan(raw, profile, pl)
    layout = profile.source.layout
    # Nothing of this source in the store yet: every ticket is new, so skip the comparison
    # and insert straight from the mapping query.
    fresh = layout == "tickets" and not cur.execute(
        "SELECT 1 FROM tickets WHERE source = ? LIMIT 1", [profile.source.source_label]).fetchall()
    with _timed(timings, "rows"):
        rows_q = build_rows(cur, raw.table, profile, pl, zone, slim=fresh)
        build_maps(cur, profile, pl)
    with _timed(timings, "compare"):
        dup, dup_ids = ingest_compare.duplicates(cur, layout)
        rejected = cur.execute("SELECT count(*) FROM _rows WHERE _reason IS NOT NULL").fetchall()[0][0]
    direct = None
    with _timed(timings, "stage"):
        if layout == "tickets":
            direct = build_stage_tickets(cur, profile, pl, rows_q if fresh else None, has_dups=dup_ids > 0,
                                         has_rejects=rejected > 0)
        elif layout == "event_log":
            build_stage_events(cur, profile, pl)
        else:
            build_stage_history(cur, profile, pl)
            # Rows for tickets not in the store were rejected just now.
            rejected = cur.execute("SELECT count(*) FROM _rows WHERE _reason IS NOT NULL").fetchall()[0][0]

    loaded = raw.rows - rejected
    if loaded == 0:
        first = cur.execute("SELECT __row, _reason FROM _rows ORDER BY __row LIMIT 1").fetchall()
        detail = f"row {first[0][0]}: {first[0][1]}" if first else "no rows"
        raise IngestError(f"{raw.name}: none of the {raw.rows:,} rows could be loaded (first problem, {detail})")
    with _timed(timings, "compare"):
        unmapped = _unmapped(cur, pl)
        no_priority = count_without_priority(cur, pl, layout, direct is not None, dup_ids > 0)
        if direct is not None:
            cur.execute("DROP TABLE IF EXISTS _cmp")
            counts = (loaded - (dup - dup_ids), 0, 0)  # each duplicated id is one ticket
        else:
            counts = ingest_compare.history_counts(cur) if layout == "history" else ingest_compare.ticket_counts(cur)
    inserted, updated, unchanged = counts
    previous = cur.execute(
        "SELECT dataset_id FROM datasets WHERE sha256 = ? AND profile_name = ? ORDER BY dataset_id LIMIT 1",
        [raw.sha256, profile.source.name],
    ).fetchall()
    warnings = plan_warnings(profile, pl) + formula_warnings(raw.formula_cells)
    result = IngestResult(
        dataset_id=None, file_name=raw.name, source=profile.source.source_label, profile_name=profile.source.name,
        rows_read=raw.rows, rows_loaded=loaded, rows_rejected=rejected, tickets_inserted=inserted,
        tickets_updated=updated, tickets_unchanged=unchanged, duplicate_rows=dup,
        unmapped_severities=unmapped, tickets_without_priority=no_priority, warnings=warnings, timings=timings,
        formula_cells=dict(raw.formula_cells),
    )
    if previous and inserted == 0 and updated == 0:
        result.dataset_id = result.duplicate_of = previous[0][0]
        return result
    with _timed(timings, "write"):
        cur.execute("BEGIN TRANSACTION")
        try:
            result.dataset_id = _write(cur, raw, profile, zone, uploaded_by, result, layout, direct)
            # Same cursor, same transaction: a rolled-back upload leaves no audit record.
            audit.record(cur, uploaded_by, audit.UPLOAD, f"dataset:{result.dataset_id}", {
                "file_name": raw.name, "sha256": raw.sha256, "source": result.source,
                "profile": result.profile_name, "rows_read": result.rows_read,
                "rows_loaded": result.rows_loaded, "rows_rejected": result.rows_rejected,
                "tickets_inserted": result.tickets_inserted, "tickets_updated": result.tickets_updated,
                "tickets_unchanged": result.tickets_unchanged})
            if layout != "history":  # recurrence follows the upload, in the same transaction
                recurrence.update_in(cur, result.dataset_id)
            cur.execute("COMMIT")
        except BaseException:  # Ctrl-C included: the store stays as it was
            cur.execute("ROLLBACK")
            raise
    return result


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


def _unmapped(cur, pl: Plan) -> dict[str, int]:
    bad = [v for v, sev in pl.severity_values.items() if sev is None]
    if not bad:
        return {}
    if ingest_compare.has(cur, "_stage"):
        rows = cur.execute(
            "SELECT priority_raw, count(*) FROM _stage WHERE severity IS NULL AND priority_raw IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    else:
        rows = cur.execute(
            "SELECT f_severity, count(DISTINCT f_external_id) FROM _rows WHERE _reason IS NULL "
            "AND list_contains(?, f_severity) GROUP BY 1 ORDER BY 2 DESC", [bad]
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def _write(cur, raw: RawFile, profile: Profile, zone: str, who: str, r: IngestResult, layout: str,
           direct: tuple[str, list] | None = None) -> int:
    dataset_id = cur.execute("SELECT coalesce(max(dataset_id), 0) + 1 FROM datasets").fetchall()[0][0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    all_new = not ingest_compare.has(cur, "_cmp")
    changed = "SELECT ticket_id FROM _cmp WHERE old_hash IS DISTINCT FROM row_hash"
    only_changed = "TRUE" if all_new else f"ticket_id IN ({changed})"
    if layout != "history":
        cols = ", ".join(qident(c) for c in TICKET_COLUMNS + DERIVED_TICKET_COLUMNS)
        if not all_new:
            cur.execute(f"DELETE FROM tickets WHERE ticket_id IN ({changed} AND old_hash IS NOT NULL)")
        source_sql, source_params = (f"({direct[0]})", direct[1]) if direct else ("_stage", [])
        cur.execute(
            f"INSERT INTO tickets ({cols}, row_hash, dataset_id, loaded_at) "
            f"SELECT {cols}, row_hash, ?, ? FROM {source_sql} WHERE {only_changed}",
            [dataset_id, now] + source_params,
        )
    if layout != "tickets":
        if not all_new:
            cur.execute(f"DELETE FROM status_history WHERE {only_changed}")
        cur.execute(f"INSERT INTO status_history BY NAME SELECT *, ? AS dataset_id FROM _hist WHERE {only_changed}",
                    [dataset_id])
    if layout != "event_log" and not all_new:  # event logs took resolved_at from their history already
        restamp_resolution(cur, f"ticket_id IN ({changed})")
    cur.execute(
        f"INSERT INTO rejects SELECT ?, r.__row, x._reason, to_json(r) FROM _rows x JOIN {qident(raw.table)} r "
        "ON r.__row = x.__row WHERE x._reason IS NOT NULL",
        [dataset_id],
    )
    cur.execute("INSERT INTO duplicate_ids SELECT ?, external_id, row_numbers FROM _dups", [dataset_id])
    cur.execute(
        "INSERT INTO datasets (dataset_id, file_name, sha256, source, profile_name, profile_toml, timezone, "
        "uploaded_by, uploaded_at, rows_read, rows_loaded, rows_rejected, tickets_inserted, tickets_updated, "
        "tickets_unchanged, duplicate_rows, describes_outages, formula_cells) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [dataset_id, raw.name, raw.sha256, r.source, profile.source.name, profile.to_toml(), zone, who, now,
         r.rows_read, r.rows_loaded, r.rows_rejected, r.tickets_inserted, r.tickets_updated,
         r.tickets_unchanged, r.duplicate_rows, profile.source.describes_outages, sum(r.formula_cells.values())],
    )
    return dataset_id


__all__ = ["IngestError", "IngestResult", "Inspection", "Detection", "TimestampGuess", "inspect_file",
           "ingest_file", "max_upload_bytes"]
