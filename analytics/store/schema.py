"""The canonical incident store: DuckDB tables every page and metric reads.

Timestamps are stored as naive TIMESTAMP values that always mean UTC; the importers convert
every source's local or offset times before they land here, so no query ever needs a zone.
"""

from __future__ import annotations

# Canonical ticket fields, in table order, with their DuckDB types. The ingest pipeline, the
# demo generator and the `tickets` CLI all derive their column lists from this one tuple.
TICKET_FIELDS: tuple[tuple[str, str], ...] = (
    ("ticket_id", "VARCHAR"),  # "<source>:<external_id>", stable across re-uploads
    ("source", "VARCHAR"),
    ("external_id", "VARCHAR"),
    ("type", "VARCHAR"),  # incident / defect / enhancement / question / service_request
    ("title", "VARCHAR"),
    ("severity", "VARCHAR"),  # SEV-1..SEV-4, NULL when the raw priority could not be mapped
    ("priority_raw", "VARCHAR"),
    ("status", "VARCHAR"),
    ("status_category", "VARCHAR"),  # open / resolved / closed / cancelled
    ("service", "VARCHAR"),
    ("component", "VARCHAR"),
    ("category", "VARCHAR"),
    ("team", "VARCHAR"),
    ("assignee", "VARCHAR"),
    ("tier", "VARCHAR"),
    ("opened_at", "TIMESTAMP"),
    ("impact_started_at", "TIMESTAMP"),
    ("detected_at", "TIMESTAMP"),
    ("acknowledged_at", "TIMESTAMP"),
    ("mitigated_at", "TIMESTAMP"),
    ("resolved_at", "TIMESTAMP"),
    ("closed_at", "TIMESTAMP"),
    ("reopen_count", "INTEGER"),
    ("reassignment_count", "INTEGER"),
    ("problem_id", "VARCHAR"),
    ("root_cause", "VARCHAR"),
    ("change_id", "VARCHAR"),
    ("pir_required", "BOOLEAN"),
    ("pir_completed_at", "TIMESTAMP"),
    ("pir_url", "VARCHAR"),
    # Scheduling of enhancements and defects (closure criterion "prioritised and scheduled"):
    # a target sprint / version / release label, and a due date.
    ("target_release", "VARCHAR"),
    ("due_at", "TIMESTAMP"),
    # The source system's own SLA verdict (ServiceNow made_sla), compared with Hypercare's
    # resolution verdict by analytics/sla/agreement.py; never used to judge a ticket.
    ("source_sla_met", "BOOLEAN"),
)

TICKET_COLUMNS: tuple[str, ...] = tuple(name for name, _ in TICKET_FIELDS)
TIMESTAMP_FIELDS: tuple[str, ...] = tuple(n for n, t in TICKET_FIELDS if t == "TIMESTAMP")
INTEGER_FIELDS: tuple[str, ...] = tuple(n for n, t in TICKET_FIELDS if t == "INTEGER")
BOOLEAN_FIELDS: tuple[str, ...] = tuple(n for n, t in TICKET_FIELDS if t == "BOOLEAN")
# Fields a mapping profile may fill from a source column (ticket_id and source are derived).
MAPPABLE_FIELDS: tuple[str, ...] = tuple(
    n for n in TICKET_COLUMNS if n not in ("ticket_id", "source", "status_category")
)
# Fields that only exist for event logs: one row per status change.
EVENT_FIELDS: tuple[str, ...] = ("event_time", "event_seq")

SEVERITIES: tuple[str, ...] = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
TICKET_TYPES: tuple[str, ...] = ("incident", "defect", "enhancement", "question", "service_request")
STATUS_CATEGORIES: tuple[str, ...] = ("open", "resolved", "closed", "cancelled")
# Whom a waiting status waits on (a profile's [waiting] table); the SLA policy decides which
# of them stop its clocks. "change": a fix or change waiting to be implemented.
PAUSE_REASONS: tuple[str, ...] = ("customer", "user", "vendor", "change", "problem", "other")
# tickets.resolved_at_basis: where tickets.resolved_at came from.
RESOLVED_FROM_HISTORY = "history"
RESOLVED_FROM_COLUMN = "export column"

# Ticket columns ingest derives (never mapped from a file, never in the canonical CSV):
# resolved_at_reported is the export's own resolved_at value (NULL when it has none),
# resolved_at_basis says whether resolved_at came from the status history or that column,
# pause_reason is the [waiting] reason of the ticket's current status (NULL: not waiting).
DERIVED_TICKET_FIELDS: tuple[tuple[str, str], ...] = (
    ("resolved_at_reported", "TIMESTAMP"),
    ("resolved_at_basis", "VARCHAR"),
    ("pause_reason", "VARCHAR"),
)
DERIVED_TICKET_COLUMNS: tuple[str, ...] = tuple(name for name, _ in DERIVED_TICKET_FIELDS)

# tickets.version_at: when the source last changed the ticket, as the upload that wrote it saw
# it. An upload replaces a stored ticket only with a version at least as new (ingest_compare).
# It is the source's updated time where the profile maps one (UPDATED_FIELD, a mapping only:
# never a ticket column), else the last event of an event log or history, else the latest of a
# tickets file's lifecycle times (VERSION_TIME_FIELDS; due_at is a plan, not an event).
VERSION_FIELD = ("version_at", "TIMESTAMP")
UPDATED_FIELD = "updated_at"
VERSION_TIME_FIELDS: tuple[str, ...] = ("opened_at", "impact_started_at", "detected_at", "acknowledged_at",
                                        "mitigated_at", "resolved_at", "closed_at", "pir_completed_at")

# Columns added after the first release: db.init_schema adds any an older store lacks.
UPGRADE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "tickets": TICKET_FIELDS + DERIVED_TICKET_FIELDS + (VERSION_FIELD,),
    # status_category and pause_reason as the uploading profile read the status.
    "status_history": (("status_category", "VARCHAR"), ("pause_reason", "VARCHAR")),
    # The profile's [source] describes_outages when the file was loaded; the file's cells that
    # start like a spreadsheet formula (analytics/store/csv_export.py); how many of the file's tickets
    # were older than the stored version, and whether the upload chose to replace them.
    "datasets": (("describes_outages", "BOOLEAN"), ("formula_cells", "BIGINT"), ("tickets_older", "BIGINT"),
                 ("replace_newer", "BOOLEAN")),
}
# Filling version_at in a store that had no such column, as the upload of each ticket would
# have: the last event of the history its own upload wrote (an event log), else its latest
# lifecycle time.
VERSION_BACKFILL: tuple[str, ...] = (
    f"UPDATE tickets SET version_at = greatest({', '.join(VERSION_TIME_FIELDS)})",
    "UPDATE tickets SET version_at = h.last_event FROM (SELECT ticket_id, dataset_id, max(event_time) AS "
    "last_event FROM status_history GROUP BY ALL) h WHERE tickets.ticket_id = h.ticket_id "
    "AND tickets.dataset_id = h.dataset_id",
)

_ticket_cols = ",\n    ".join(f"{n} {t}" for n, t in TICKET_FIELDS + DERIVED_TICKET_FIELDS)

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS datasets (
    dataset_id INTEGER PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    profile_name VARCHAR,
    profile_toml VARCHAR,
    timezone VARCHAR,
    uploaded_by VARCHAR,
    uploaded_at TIMESTAMP NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    tickets_inserted BIGINT NOT NULL,
    tickets_updated BIGINT NOT NULL,
    tickets_unchanged BIGINT NOT NULL,
    duplicate_rows BIGINT NOT NULL DEFAULT 0,
    describes_outages BOOLEAN,
    formula_cells BIGINT,
    tickets_older BIGINT,
    replace_newer BOOLEAN
)""",
    f"""CREATE TABLE IF NOT EXISTS tickets (
    {_ticket_cols},
    dataset_id INTEGER,
    row_hash UBIGINT,
    loaded_at TIMESTAMP,
    version_at TIMESTAMP
    -- ticket_id is unique by construction (ingest deletes before it re-inserts); no index,
    -- because an ART index would cost more on a million-row load than the check is worth.
)""",
    """CREATE TABLE IF NOT EXISTS status_history (
    ticket_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    seq INTEGER NOT NULL,
    status VARCHAR,
    team VARCHAR,
    tier VARCHAR,
    dataset_id INTEGER,
    status_category VARCHAR,
    pause_reason VARCHAR
)""",
    """CREATE TABLE IF NOT EXISTS rejects (
    dataset_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR
)""",
    """CREATE TABLE IF NOT EXISTS duplicate_ids (
    dataset_id INTEGER NOT NULL,
    external_id VARCHAR NOT NULL,
    row_numbers VARCHAR NOT NULL
)""",
    # The tickets an upload carried in an older version than the store's (datasets.tickets_older):
    # the stored version stayed, unless that upload chose to replace it (datasets.replace_newer).
    """CREATE TABLE IF NOT EXISTS older_tickets (
    dataset_id INTEGER NOT NULL,
    ticket_id VARCHAR NOT NULL,
    stored_version_at TIMESTAMP,
    file_version_at TIMESTAMP
)""",
    """CREATE TABLE IF NOT EXISTS settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
)""",
    # One row: how many writes have committed (db.transaction bumps it in each), the key of
    # every in-memory cache of what the store holds (analytics/store/cache.py).
    """CREATE TABLE IF NOT EXISTS store_version (
    version BIGINT NOT NULL
)""",
    # SLA policy versions (analytics/sla/policy.py): append-only, so a ticket is always judged
    # by the goals in force when it opened, never by a later edit.
    """CREATE TABLE IF NOT EXISTS sla_policies (
    version VARCHAR PRIMARY KEY,
    effective_from DATE NOT NULL,
    policy_toml VARCHAR NOT NULL,
    saved_by VARCHAR,
    saved_at TIMESTAMP NOT NULL
)""",
    # Recurrence clusters (analytics/recurrence/clustering.py): the cluster of each distinct ticket key,
    # kept current by update_clusters; keys are the coalesced ('' for NULL) ticket fields.
    """CREATE TABLE IF NOT EXISTS recurrence_signatures (
    service VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    component VARCHAR NOT NULL,
    signature VARCHAR NOT NULL,
    cluster_id VARCHAR NOT NULL,
    representative VARCHAR NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS recurrence_clusters (
    cluster_id VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    component VARCHAR NOT NULL,
    representative VARCHAR NOT NULL,
    threshold DOUBLE NOT NULL,
    created_seq BIGINT NOT NULL
)""",
    # Append-only audit trail (analytics/store/audit.py): uploads, deletions, policy and settings
    # changes, sign-offs. Each record carries the hash of the one before it, so an edit or a
    # removed row shows up when the chain is verified. Nothing in the code updates or deletes it.
    """CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    recorded_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    object VARCHAR,
    detail VARCHAR,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
)""",
    # Stakeholder sign-offs (analytics/governance/signoff.py), event-sourced: a revocation is a new row,
    # and the current state of a role is its latest event.
    """CREATE TABLE IF NOT EXISTS signoff_events (
    event_id BIGINT PRIMARY KEY,
    role VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    signed_on DATE,
    comment VARCHAR,
    recorded_by VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
)""",
    # Post-incident review registers (analytics/governance/pir_register.py): each upload is a snapshot of
    # the register; the latest upload that names a ticket is the one that counts.
    """CREATE TABLE IF NOT EXISTS pir_registers (
    register_id INTEGER PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    uploaded_by VARCHAR,
    uploaded_at TIMESTAMP NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS pir_reviews (
    register_id INTEGER NOT NULL,
    ticket_ref VARCHAR NOT NULL,
    completed_on DATE
)""",
    """CREATE TABLE IF NOT EXISTS pir_actions (
    register_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    ticket_ref VARCHAR NOT NULL,
    action VARCHAR,
    owner VARCHAR,
    due_on DATE,
    closed_on DATE
)""",
    """CREATE TABLE IF NOT EXISTS pir_rejects (
    register_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR
)""",
    # The installation's catalog of engagements (analytics/store/engagements.py); empty in an
    # engagement's own store. `file` is relative to the catalog's folder.
    """CREATE TABLE IF NOT EXISTS engagements (
    slug VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    is_demo BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR
)""",
)
