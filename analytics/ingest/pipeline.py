"""Uploading one export: read, detect, map, validate, and upsert — all or nothing.

An upload is one dataset record and one transaction. Rows that cannot be loaded are kept in
`rejects` with their row number and reason, and the counts always reconcile:
rows_read = rows_loaded + rows_rejected. Tickets upsert by (source, external id), so the same
or an updated export never duplicates anything; uploading the very same file again (same
sha256, nothing changed) writes nothing at all — not even an audit record, since nothing happened.
A ticket whose stored version is newer than the file's keeps its stored row and history, and is
counted and listed (older_tickets) unless the upload replaces newer versions on purpose.
Each upload that writes appends an "upload" audit record inside its own transaction.

Two halves: ingest_stage reads and checks the file without the store; apply_staged compares it
with the stored tickets and writes, and is the only part that needs the store's write turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from analytics.ingest import compare
from analytics.ingest.events import restamp_resolution
from analytics.ingest.stage import Staged, nothing_loads, stage_file, timed, upload_settings
from analytics.ingest.transform import qident
from analytics.store import audit, auth, db
from analytics.store.schema import DERIVED_TICKET_COLUMNS, TICKET_COLUMNS, VERSION_FIELD

OLDER_KEPT = "{n:,} tickets in this file are older than what is stored: kept the stored version"
OLDER_REPLACED = "{n:,} tickets in this file are older than what is stored: replaced the stored version on purpose"


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
    # Tickets whose stored version is newer than the file's: kept as stored (not counted as
    # updated), or, with replace_newer, replaced (and counted as updated too).
    tickets_older: int = 0
    replace_newer: bool = False
    # Source column -> its cells that start like a spreadsheet formula: stored as they are,
    # neutralised in every export (analytics/store/csv_export.py); `warnings` says so too.
    formula_cells: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Seconds per stage (read, plan, rows, stage, compare, write; store: all of the part that
    # needs the store's write turn): for benchmarks and support.
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
        if self.tickets_older:
            text += " · " + (OLDER_REPLACED if self.replace_newer else OLDER_KEPT).format(n=self.tickets_older)
        if self.duplicate_of is not None:
            text += f" (identical to dataset {self.duplicate_of}; nothing was written)"
        return text


# What an upload derives from the tickets it wrote, in its own transaction: derive(cursor, result),
# called after the rows and the audit record, only when a tickets or event-log file was written
# (a history file brings no new ticket); what it writes commits or rolls back with the upload.
Derive = Callable[[duckdb.DuckDBPyConnection, IngestResult], None]


def ingest_file(con, path=None, *, data: bytes | None = None, name: str | None = None,
                source: str = "auto", profile=None, tz: str | None = None,
                uploaded_by: auth.Identity, max_bytes: int | None = None, profiles_dir=None,
                delimiter: str | None = None, replace_newer: bool = False,
                derive: Derive | None = None) -> IngestResult:
    """Load one export into the store `con` that the caller holds (stage_file, then apply_staged).
    Raises IngestError (database untouched) on refusal.

    `uploaded_by` is who loads it, an auth.Identity (recorded by its label; the CLI and scripts
    pass auth.local_operator(name)); auth.PermissionDenied unless that identity may upload."""
    auth.require(uploaded_by, auth.Permission.UPLOAD)
    limit, default_tz = upload_settings(con)
    with stage_file(path, data=data, name=name, source=source, profile=profile, tz=tz,
                    max_bytes=limit if max_bytes is None else max_bytes, profiles_dir=profiles_dir,
                    delimiter=delimiter, default_tz=default_tz) as staged:
        return apply_staged(con, staged, uploaded_by=uploaded_by, replace_newer=replace_newer, derive=derive)


def apply_staged(con, staged: Staged, *, uploaded_by: auth.Identity,
                 replace_newer: bool = False, derive: Derive | None = None) -> IngestResult:
    """Compare a staged upload with the store `con` and write it in one transaction: the part
    of an upload to run in the store's write turn. IngestError (store untouched) when none of a
    history file's rows belongs to a stored ticket.

    `replace_newer`: tickets whose stored version is newer than the file's take the file's
    anyway (on purpose, e.g. to undo a bad upload); recorded on the dataset and in the audit."""
    label = auth.require(uploaded_by, auth.Permission.UPLOAD).label
    start = time.perf_counter()
    with db.write_lock:
        cur = con.cursor()  # its temp tables and registered Arrow tables go with it
        try:
            cur.execute("SET TimeZone = 'UTC'")
            return _ingest(cur, staged, label, replace_newer, derive)
        finally:
            cur.close()
            staged.timings["store"] = round(time.perf_counter() - start, 4)


# What goes with several staged files in their one transaction: also(cursor, results), after them all.
Also = Callable[[duckdb.DuckDBPyConnection, list[IngestResult]], None]


def apply_all(con, staged: Sequence[Staged], *, uploaded_by: auth.Identity, replace_newer: bool = False,
              derive: Derive | None = None, also: Also | None = None) -> list[IngestResult]:
    """apply_staged for several files (a tickets file, then its history files) on one cursor in
    one transaction: a later file sees the tickets an earlier one wrote, and a failure in any,
    or in `also`, leaves the store as it was. Each file that writes is its own dataset and
    audit record, as uploaded one by one."""
    label = auth.require(uploaded_by, auth.Permission.UPLOAD).label
    start = time.perf_counter()
    results: list[IngestResult] = []
    with db.write_lock:
        cur = con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            # Each file's own audit.transaction in _ingest joins this one (db.transaction).
            with audit.transaction(cur, new_cursor=False):
                for one in staged:
                    results.append(_ingest(cur, one, label, replace_newer, derive))
                if also is not None:
                    also(cur, results)
            return results
        finally:
            cur.close()
            for one in staged:
                one.timings["store"] = round(time.perf_counter() - start, 4)


def _attach_history(cur, staged: Staged) -> int:
    """A history file's rows of tickets the store does not hold become rejects (_rejects);
    _hist keeps the rest. Returns how many rows that rejected."""
    missing = cur.sql("SELECT DISTINCT ticket_id FROM _hist_file WHERE ticket_id NOT IN "
                      "(SELECT ticket_id FROM tickets)").to_arrow_table()
    cur.execute("CREATE OR REPLACE TEMP VIEW _hist AS SELECT * FROM _hist_file WHERE ticket_id IN "
                "(SELECT ticket_id FROM tickets)")
    if missing.num_rows == 0:
        return 0
    orphans = staged.orphan_rejects(missing)
    cur.register("_rejects", pa.concat_tables([staged.tables["_rejects"], orphans.cast(
        staged.tables["_rejects"].schema)]))
    return orphans.num_rows


def _ingest(cur, staged: Staged, uploaded_by: str, replace_newer: bool, derive: Derive | None) -> IngestResult:
    raw, profile, timings, layout = staged.raw, staged.profile, staged.timings, staged.layout
    for name, table in staged.tables.items():
        cur.register("_hist_file" if (layout, name) == ("history", "_hist") else name, table)
    rejected = staged.rows_rejected
    with timed(timings, "compare"):
        if layout == "history":
            rejected += _attach_history(cur, staged)
            if rejected == raw.rows:
                first = cur.execute("SELECT row_number, reason FROM _rejects ORDER BY 1 LIMIT 1").fetchall()
                raise nothing_loads(raw.name, raw.rows, first[0] if first else None)
        counts = (compare.history_counts(cur, replace_newer) if layout == "history"
                  else compare.ticket_counts(cur, replace_newer))
    inserted, updated, unchanged, older = counts
    previous = cur.execute(
        "SELECT dataset_id FROM datasets WHERE sha256 = $sha256 AND profile_name = $name ORDER BY dataset_id LIMIT 1",
        {"sha256": raw.sha256, "name": profile.source.name},
    ).fetchall()
    result = IngestResult(
        dataset_id=None, file_name=raw.name, source=profile.source.source_label, profile_name=profile.source.name,
        rows_read=raw.rows, rows_loaded=raw.rows - rejected, rows_rejected=rejected, tickets_inserted=inserted,
        tickets_updated=updated, tickets_unchanged=unchanged, duplicate_rows=staged.duplicate_rows,
        unmapped_severities=staged.unmapped_severities, tickets_without_priority=staged.tickets_without_priority,
        tickets_older=older, replace_newer=replace_newer, warnings=list(staged.warnings), timings=timings,
        formula_cells=dict(raw.formula_cells),
    )
    if previous and inserted == 0 and updated == 0:
        result.dataset_id = result.duplicate_of = previous[0][0]
        return result
    # On `cur` itself: the staged tables are registered on it. Ctrl-C rolls back too.
    with timed(timings, "write"), audit.transaction(cur, new_cursor=False):
        result.dataset_id = _write(cur, raw, profile, staged.zone, uploaded_by, result, layout)
        # Same cursor, same transaction: a rolled-back upload leaves no audit record.
        audit.record(cur, uploaded_by, audit.UPLOAD, f"dataset:{result.dataset_id}", {
            "file_name": raw.name, "sha256": raw.sha256, "source": result.source,
            "profile": result.profile_name, "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded, "rows_rejected": result.rows_rejected,
            "tickets_inserted": result.tickets_inserted, "tickets_updated": result.tickets_updated,
            "tickets_unchanged": result.tickets_unchanged, "tickets_older": result.tickets_older,
            "replace_newer": replace_newer})
        if derive is not None and layout != "history":
            derive(cur, result)
    return result


def _write(cur, raw, profile, zone: str, who: str, r: IngestResult, layout: str) -> int:
    dataset_id = cur.execute("SELECT coalesce(max(dataset_id), 0) + 1 FROM datasets").fetchall()[0][0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    all_new = not compare.has(cur, "_cmp")
    # Changed, and not an older version kept aside (ingest_compare): these are replaced.
    changed = "SELECT ticket_id FROM _cmp WHERE old_hash IS DISTINCT FROM row_hash AND NOT keep"
    only_changed = "TRUE" if all_new else f"ticket_id IN ({changed})"
    if layout != "history":
        cols = ", ".join(qident(c) for c in TICKET_COLUMNS + DERIVED_TICKET_COLUMNS + (VERSION_FIELD[0],))
        if not all_new:
            cur.execute(f"DELETE FROM tickets WHERE ticket_id IN ({changed} AND old_hash IS NOT NULL)")
            # An unchanged ticket seen at a later moment (a mapped updated time moved) keeps that
            # newer version, so a file from in between cannot pass for newer afterwards.
            cur.execute("UPDATE tickets SET version_at = c.file_version FROM _cmp c WHERE tickets.ticket_id = "
                        "c.ticket_id AND c.old_hash = c.row_hash AND (c.stored_version IS NULL "
                        "OR c.file_version > c.stored_version)")
        cur.execute(
            f"INSERT INTO tickets ({cols}, row_hash, dataset_id, loaded_at) "
            f"SELECT {cols}, row_hash, $dataset_id, $now FROM _stage WHERE {only_changed}",
            {"dataset_id": dataset_id, "now": now},
        )
    if layout != "tickets":
        if not all_new:
            cur.execute(f"DELETE FROM status_history WHERE {only_changed}")
        cur.execute("INSERT INTO status_history BY NAME SELECT *, $dataset_id AS dataset_id FROM _hist "
                    f"WHERE {only_changed}", {"dataset_id": dataset_id})
    if layout != "event_log" and not all_new:  # event logs took resolved_at from their history already
        restamp_resolution(cur, f"ticket_id IN ({changed})")
    ids = {"dataset_id": dataset_id}
    cur.execute("INSERT INTO rejects SELECT $dataset_id, row_number, reason, raw FROM _rejects", ids)
    cur.execute("INSERT INTO duplicate_ids SELECT $dataset_id, external_id, row_numbers FROM _dups", ids)
    if not all_new:
        cur.execute("INSERT INTO older_tickets SELECT $dataset_id, ticket_id, stored_version, file_version FROM _cmp "
                    "WHERE older", {"dataset_id": dataset_id})
    row = {"dataset_id": dataset_id, "file_name": raw.name, "sha256": raw.sha256, "source": r.source,
           "profile_name": profile.source.name, "profile_toml": profile.to_toml(), "timezone": zone,
           "uploaded_by": who, "uploaded_at": now, "rows_read": r.rows_read, "rows_loaded": r.rows_loaded,
           "rows_rejected": r.rows_rejected, "tickets_inserted": r.tickets_inserted,
           "tickets_updated": r.tickets_updated, "tickets_unchanged": r.tickets_unchanged,
           "duplicate_rows": r.duplicate_rows, "describes_outages": profile.source.describes_outages,
           "tickets_older": r.tickets_older, "replace_newer": r.replace_newer,
           "formula_cells": sum(r.formula_cells.values())}
    cur.execute(f"INSERT INTO datasets ({', '.join(row)}) VALUES ({', '.join('$' + k for k in row)})", row)
    return dataset_id


__all__ = ["Also", "Derive", "IngestResult", "apply_all", "apply_staged", "ingest_file"]
