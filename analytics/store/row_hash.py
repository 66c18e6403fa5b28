"""Stable content hashes: tickets.row_hash (is a file's ticket the stored one?) and the store digest.

An upload tells updated tickets from unchanged ones by comparing hashes with the stored ones,
so a hash must mean the same in every DuckDB version; DuckDB's own hash() promises no such
thing (issue #16). A hash here is md5 over a canonical text of the typed values, in a fixed
order, joined by chr(31):
- text as its UTF-8 byte length, ':' and the text ('3:abc'; NULL is '\\N:'), so no content
  (a separator, a colon, a backslash) can move a boundary and NULL, '' and 'NULL' all differ;
- timestamps as ISO 8601 with microseconds, '2026-09-07T10:30:00.000000';
- integers in decimal, booleans 'true' / 'false', dates 'YYYY-MM-DD'; NULL as '\\N'.
The hash is the md5 digest's first 8 bytes read as a little-endian number (a UBIGINT, the
type of row_hash). tests/test_row_hash.py recomputes it with hashlib: that pins it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analytics.store.schema import TICKET_FIELDS

# The ticket columns an upload hashes: the canonical ones and two of the derived ones.
# resolved_at_basis is left out: it follows from resolved_at and the profile (history when the
# profile maps a status, else the export's column), so it adds nothing to a comparison.
ROW_HASH_FIELDS: tuple[tuple[str, str], ...] = TICKET_FIELDS + (
    ("resolved_at_reported", "TIMESTAMP"), ("pause_reason", "VARCHAR"))
# A ticket's status history, as its hash sees it (event order is seq's).
HISTORY_FIELDS: tuple[tuple[str, str], ...] = (
    ("event_time", "TIMESTAMP"), ("status", "VARCHAR"), ("team", "VARCHAR"), ("tier", "VARCHAR"),
    ("pause_reason", "VARCHAR"))
# Marks a store whose row_hash values are this module's (a comment on the column, so it holds
# for stores of every kind without touching their settings); db.init_schema rehashes the others.
FORMAT = "md5 of canonical text, v1 (analytics/store/row_hash.py)"

_PLAIN = ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT", "BOOLEAN", "DATE")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_LOW_64 = "18446744073709551615::UHUGEINT"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value_args(expr: str, typ: str) -> list[str]:
    """concat() arguments giving one value's canonical text (casts first: a staged value and the
    stored one must read alike whatever type the staging query gave it)."""
    if typ == "TIMESTAMP":
        return [f"coalesce(strftime(CAST({expr} AS TIMESTAMP), '{_TS_FORMAT}'), '\\N')"]
    if typ in _PLAIN:
        return [f"coalesce(CAST(CAST({expr} AS {typ}) AS VARCHAR), '\\N')"]
    text = f"CAST({expr} AS VARCHAR)"
    return [f"coalesce(CAST(strlen({text}) AS VARCHAR), '\\N')", "':'", text]


def text_sql(values: Sequence[tuple[str, str]]) -> str:
    """SQL for the canonical text of (expression, type) pairs."""
    # One variadic concat: chained || builds every intermediate string (twice the cost).
    args: list[str] = []
    for expr, typ in values:
        if args:
            args.append("chr(31)")
        args += _value_args(expr, typ)
    return f"concat({', '.join(args)})"


def hash_sql(text: str) -> str:
    """SQL for the stable 64-bit hash of a text expression."""
    # md5_number reads the digest little-endian; the mask keeps its first 8 bytes (cheaper than
    # md5_number_lower, a macro that goes through a bit string).
    return f"(md5_number({text}) & {_LOW_64})::UBIGINT"


def row_sql(fields: Sequence[tuple[str, str]], overrides: Mapping[str, str] | None = None,
            alias: str = "") -> str:
    """SQL for the stable hash of a row's `fields` (name, type); `overrides`: name → expression."""
    overrides = overrides or {}
    return hash_sql(text_sql([(overrides.get(n, alias + _ident(n)), t) for n, t in fields]))


def ticket_sql(overrides: Mapping[str, str] | None = None, alias: str = "") -> str:
    """SQL for a ticket's row_hash without its history (ROW_HASH_FIELDS)."""
    return row_sql(ROW_HASH_FIELDS, overrides, alias)


def history_md5_sql(alias: str = "") -> str:
    """Aggregate SQL: the md5 (hex) of a ticket's whole history, events in seq order."""
    # Each event's text is self-delimiting (fixed fields, length-prefixed text), so chr(30)
    # between events cannot be confused with content either.
    event = text_sql([(alias + _ident(n), t) for n, t in HISTORY_FIELDS])
    return f"md5(string_agg({event}, chr(30) ORDER BY {alias}seq))"


def with_history_sql(ticket_hash: str, history_md5: str) -> str:
    """SQL for the row_hash of a ticket whose upload carried its history (an event log)."""
    return hash_sql(f"concat(CAST({ticket_hash} AS VARCHAR), chr(31), {history_md5})")


def is_current(con) -> bool:
    """True when the store's row_hash values are this module's (FORMAT)."""
    found = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'tickets' AND "
                        "column_name = 'row_hash' AND database_name = current_database() "
                        "AND schema_name = 'main'").fetchall()
    return bool(found) and found[0][0] == FORMAT


def rehash(con) -> None:
    """Recompute every stored ticket's row_hash as an upload of its file computes it, and mark
    the store (FORMAT); the caller holds the transaction."""
    # Which upload wrote a ticket decides what its file said. An event log wrote the ticket's
    # history under its own dataset_id, and its hash covers that history. A tickets file wrote no
    # history: its file's resolution time is resolved_at_reported (a history loaded later may
    # have re-stamped resolved_at, basis 'history'), except in a store older than that column
    # (basis NULL), where resolved_at is still the file's.
    # (A store too old to know its tickets' uploads has no dataset_id: tickets files, then.)
    file_resolved = "CASE WHEN t.resolved_at_basis IS NULL THEN t.resolved_at ELSE t.resolved_at_reported END"
    tickets_file = ticket_sql({"resolved_at": file_resolved, "resolved_at_reported": file_resolved}, "t.")
    own_upload = "t.dataset_id = s.dataset_id" if con.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'tickets' AND column_name = 'dataset_id'"
    ).fetchall() else "FALSE"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rehash AS WITH own AS (SELECT s.ticket_id, "
        f"{history_md5_sql('s.')} AS h FROM status_history s JOIN tickets t ON t.ticket_id = s.ticket_id "
        f"AND {own_upload} GROUP BY s.ticket_id) "
        f"SELECT t.ticket_id, CASE WHEN own.h IS NULL THEN {tickets_file} "
        f"ELSE {with_history_sql(ticket_sql(alias='t.'), 'own.h')} END AS h "
        "FROM tickets t LEFT JOIN own USING (ticket_id)")
    con.execute("UPDATE tickets SET row_hash = r.h FROM _rehash r WHERE tickets.ticket_id = r.ticket_id "
                "AND tickets.row_hash IS DISTINCT FROM r.h")
    con.execute("DROP TABLE _rehash")
    mark(con)


def mark(con) -> None:
    """Record on the row_hash column that its values are this module's."""
    # COMMENT takes no bound parameter; FORMAT is this module's constant, quotes doubled anyway.
    con.execute(f"COMMENT ON COLUMN tickets.row_hash IS '{FORMAT.replace(chr(39), chr(39) * 2)}'")
