"""What has been uploaded: datasets, their rejected rows, and data-quality checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analytics.ingest.events import restamp_resolution
from analytics.store import audit, auth
from analytics.store.csv_export import formula_start_sql
from analytics.store.exclusions import ACK_AT_OPEN_MIN_TICKETS, ACK_AT_OPEN_SHARE
from analytics.store.schema import TICKET_FIELDS

ROW_COLUMNS = ("ticket_id, title, severity, priority_raw, status, status_category, opened_at, acknowledged_at, "
               "resolved_at, closed_at")
# Every text field a file fills; the controlled ones (severity, status_category) never match.
_TEXT_FIELDS = tuple(n for n, t in TICKET_FIELDS if t == "VARCHAR" and n not in ("ticket_id", "source"))


@dataclass(frozen=True)
class QualityCheck:
    key: str
    label: str
    description: str
    where: str  # SQL condition over the tickets table (fixed text, no user values)
    columns: str = ROW_COLUMNS  # the tickets columns its rows show


CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        "before_opened", "Timestamps before the opened time",
        "Acknowledged, resolved or closed earlier than opened: a negative duration that "
        "metrics would otherwise count.",
        "(acknowledged_at < opened_at OR resolved_at < opened_at OR closed_at < opened_at "
        "OR mitigated_at < opened_at)",
    ),
    QualityCheck(
        "out_of_order", "Timestamps out of order",
        "Closed before resolved, or resolved before acknowledged.",
        "(closed_at < resolved_at OR resolved_at < acknowledged_at)",
    ),
    QualityCheck(
        "resolved_without_time", "Resolved without a resolution time",
        "Status says resolved or closed but neither its status history nor the export gives a "
        "resolution time, so the ticket cannot count towards MTTR or resolution SLA.",
        "(status_category IN ('resolved', 'closed') AND resolved_at IS NULL)",
    ),
    QualityCheck(
        "unmapped_severity", "Unmapped severities",
        "The raw priority did not map to SEV-1..SEV-4: add it to the profile's severity mapping "
        "on the Upload page.",
        "(severity IS NULL)",
    ),
)
# Counted by a query of its own: in a WHERE, DuckDB skips row groups by their min/max statistics,
# and the test stays off most rows; as a FILTER beside the others it cost 2 s on 1M tickets.
FORMULA_CHECK = QualityCheck(
    "formula_text", "Text that starts like a spreadsheet formula",
    "A text field starts with =, +, -, @, a tab or a carriage return, which a spreadsheet would run "
    "as a formula (OWASP, CSV injection). It is stored and shown as it is, and every CSV and XLSX "
    "export prefixes it with ' so that it opens as text. The Uploads table counts such cells per file.",
    "(" + " OR ".join(formula_start_sql(c) for c in _TEXT_FIELDS) + ")",
    "ticket_id, opened_at, " + ", ".join(_TEXT_FIELDS),
)
DUPLICATES_KEY = "duplicate_ids"
DUPLICATES_LABEL = "Duplicate ids within a file"
OLDER_KEY = "older_than_stored"
OLDER_LABEL = "Older than the stored version"
ACK_KEY = "ack_equals_open"
ACK_LABEL = "Acknowledged at the opened time"
# A source that stamps its first response with the opening does so on most tickets, not a few:
# Volvo VINST 85 % (6,372 of 7,536 SRs open with their acceptance), ServiceNow 24 %, the Italian
# help desk 2 %. 80 % separates them with room on both sides.
ACK_EQUALS_OPEN_MIN_SHARE = ACK_AT_OPEN_SHARE  # one rule with MTTA's exclusion (analytics/store/exclusions.py)
ACK_EQUALS_OPEN_MIN_TICKETS = ACK_AT_OPEN_MIN_TICKETS  # fewer acknowledged tickets say nothing


def ack_equals_open_sources(con, dataset_id: int | None = None, min_share: float | None = None,
                            min_tickets: int | None = None) -> dict[str, float]:
    """Sources whose acknowledged_at equals opened_at on at least `min_share` (default
    ACK_EQUALS_OPEN_MIN_SHARE) of their acknowledged tickets, counting only sources with
    `min_tickets` (default ACK_EQUALS_OPEN_MIN_TICKETS) of them → that share (0..1), largest first.

    Such a source records the first response with the opening (Volvo opens most SRs with their
    acceptance event), so its MTTA is not measurable and should be reported as such."""
    min_share = ACK_EQUALS_OPEN_MIN_SHARE if min_share is None else min_share
    min_tickets = ACK_EQUALS_OPEN_MIN_TICKETS if min_tickets is None else min_tickets
    scope, params = _scope(dataset_id)
    rows = con.cursor().execute(
        "SELECT source, count(*) FILTER (WHERE acknowledged_at = opened_at) / count(*) AS share FROM tickets "
        f"WHERE acknowledged_at IS NOT NULL AND opened_at IS NOT NULL AND {scope} GROUP BY source "
        "HAVING count(*) >= $min_tickets AND share >= $min_share ORDER BY share DESC, source",
        {**params, "min_tickets": min_tickets, "min_share": min_share}).fetchall()
    return {source: float(share) for source, share in rows}


def list_datasets(con) -> pd.DataFrame:
    return con.cursor().execute(
        "SELECT dataset_id, file_name, source, profile_name, uploaded_by, uploaded_at, rows_read, "
        "rows_loaded, rows_rejected, tickets_inserted, tickets_updated, tickets_unchanged, tickets_older, "
        "replace_newer, duplicate_rows, formula_cells, timezone, sha256 FROM datasets ORDER BY dataset_id DESC"
    ).df()


def rejects(con, dataset_id: int) -> pd.DataFrame:
    return con.cursor().execute(
        "SELECT row_number, reason, raw FROM rejects WHERE dataset_id = $dataset_id ORDER BY row_number",
        {"dataset_id": dataset_id}
    ).df()


def _scope(dataset_id: int | None) -> tuple[str, dict[str, Any]]:
    return ("dataset_id = $dataset_id", {"dataset_id": dataset_id}) if dataset_id is not None else ("TRUE", {})


def data_quality(con, dataset_id: int | None = None) -> pd.DataFrame:
    """One row per check: check key, label, count of affected tickets (or rows), description."""
    scope, params = _scope(dataset_id)
    counts = ", ".join(f"count(*) FILTER (WHERE {c.where})" for c in CHECKS)
    cur = con.cursor()
    values = cur.execute(f"SELECT {counts} FROM tickets WHERE {scope}", params).fetchall()[0]
    rows = [(c.key, c.label, int(v), c.description) for c, v in zip(CHECKS, values)]
    n = cur.execute(f"SELECT count(*) FROM tickets WHERE {scope} AND {FORMULA_CHECK.where}", params).fetchall()[0][0]
    rows.append((FORMULA_CHECK.key, FORMULA_CHECK.label, int(n), FORMULA_CHECK.description))
    dup = cur.execute(f"SELECT count(*) FROM duplicate_ids WHERE {scope}", params).fetchall()[0][0]
    rows.append((DUPLICATES_KEY, DUPLICATES_LABEL, int(dup),
                 "The same ticket id on several rows of one tickets file: the last row was kept."))
    older = cur.execute(f"SELECT count(*) FROM older_tickets WHERE {scope}", params).fetchall()[0][0]
    rows.append((OLDER_KEY, OLDER_LABEL, int(older),
                 "Tickets an upload carried in an older version than the stored one (by the source's updated "
                 "time, else the last event): the stored version was kept, unless that upload replaced newer "
                 "versions on purpose (replaced = true)."))
    flagged = ack_equals_open_sources(con, dataset_id)
    n_ack = cur.execute(f"SELECT count(*) FROM tickets WHERE {scope} AND acknowledged_at = opened_at "
                        "AND list_contains($flagged, source)", {**params, "flagged": list(flagged)}).fetchall()[0][0]
    shares = ", ".join(f"{s} {round(v * 100)} %" for s, v in flagged.items()) or "none"
    rows.append((ACK_KEY, ACK_LABEL, int(n_ack),
                 f"Sources whose acknowledgement equals the opened time on at least "
                 f"{round(ACK_EQUALS_OPEN_MIN_SHARE * 100)} % of their acknowledged tickets ({shares}): they record "
                 "the first response with the opening, so MTTA is not measurable for them. The rows are "
                 "those sources' tickets acknowledged at the opened time."))
    return pd.DataFrame(rows, columns=["check", "label", "count", "description"])


def data_quality_rows(con, check: str, dataset_id: int | None = None, limit: int = 5000) -> pd.DataFrame:
    scope, params = _scope(dataset_id)
    cur = con.cursor()
    if check == DUPLICATES_KEY:
        return cur.execute(
            f"SELECT dataset_id, external_id, row_numbers FROM duplicate_ids WHERE {scope} "
            "ORDER BY dataset_id, external_id LIMIT $limit", {**params, "limit": limit}
        ).df()
    if check == OLDER_KEY:
        return cur.execute(
            "SELECT * FROM (SELECT o.dataset_id, o.ticket_id, o.stored_version_at, o.file_version_at, "
            "coalesce(d.replace_newer, FALSE) AS replaced FROM older_tickets o JOIN datasets d USING (dataset_id)) "
            f"WHERE {scope} ORDER BY dataset_id, ticket_id LIMIT $limit", {**params, "limit": limit}).df()
    found = next((c for c in (*CHECKS, FORMULA_CHECK) if c.key == check), None)
    columns = found.columns if found else ROW_COLUMNS
    if check == ACK_KEY:
        where, extra = "acknowledged_at = opened_at AND list_contains($flagged, source)", {
            "flagged": list(ack_equals_open_sources(con, dataset_id))}
    elif found is None:
        raise ValueError(f"unknown data-quality check '{check}'")
    else:
        where, extra = found.where, {}
    return cur.execute(
        f"SELECT {columns}, dataset_id FROM tickets WHERE {where} AND {scope} "
        "ORDER BY opened_at LIMIT $limit", {**extra, **params, "limit": limit}
    ).df()


def delete_dataset(con, dataset_id: int, actor: auth.Identity) -> int:
    """Remove a dataset and the tickets it last wrote; returns how many tickets went.

    Recorded in the audit log ("dataset.delete") in the same transaction; deleting a dataset
    that does not exist changes nothing and records nothing. Its uploader needs the
    delete-own permission (analyst), anyone else delete-any (admin): auth.PermissionDenied."""
    auth.require(actor, auth.Permission.DELETE_OWN_DATASETS)
    with audit.transaction(con) as cur:
        scope = {"dataset_id": dataset_id}
        n = cur.execute("SELECT count(*) FROM tickets WHERE dataset_id = $dataset_id", scope).fetchall()[0][0]
        found = cur.execute("SELECT file_name, sha256, source, uploaded_by FROM datasets "
                            "WHERE dataset_id = $dataset_id", scope).fetchall()
        if found:
            actor = auth.require_delete(actor, found[0][3])
            audit.record(cur, actor, audit.DATASET_DELETE, f"dataset:{dataset_id}", {
                "file_name": found[0][0], "sha256": found[0][1], "source": found[0][2],
                "uploaded_by": found[0][3], "tickets_removed": int(n)})
        # Tickets of other uploads that lose this upload's history get their export's
        # resolution time back.
        cur.execute("CREATE OR REPLACE TEMP TABLE _bereft AS SELECT DISTINCT ticket_id FROM status_history "
                    "WHERE dataset_id = $dataset_id", scope)
        cur.execute(
            "DELETE FROM status_history WHERE ticket_id IN "
            "(SELECT ticket_id FROM tickets WHERE dataset_id = $dataset_id) OR dataset_id = $dataset_id", scope)
        for table in ("tickets", "rejects", "duplicate_ids", "older_tickets", "datasets"):
            cur.execute(f"DELETE FROM {table} WHERE dataset_id = $dataset_id", scope)
        restamp_resolution(cur, "ticket_id IN (SELECT ticket_id FROM _bereft)")
        cur.execute("DROP TABLE _bereft")
    return n
