"""Comparing an upload's staged rows with the store: duplicates in the file, and which tickets
are new, changed, unchanged or older than the stored version (the counts an upload reports,
and the rows its write touches).

A changed ticket whose stored version (tickets.version_at; for a history file, the stored
history's last event) is newer than the file's is *older*: it keeps its stored row and history
unless the upload replaces newer versions on purpose. An equal version is applied, so a
corrected re-export of the same moment still lands.
"""

from __future__ import annotations

from analytics.store import row_hash

Counts = tuple[int, int, int, int]  # (inserted, updated, unchanged, older)


def duplicates(cur, layout: str) -> tuple[int, int]:
    """_dups: ids on several accepted rows of a tickets file; returns (rows, ids) involved."""
    if layout != "tickets":
        cur.execute("CREATE OR REPLACE TEMP TABLE _dups (external_id VARCHAR, row_numbers VARCHAR, n BIGINT)")
        return 0, 0
    # Find the duplicated ids first, then list rows for those alone: listing rows for every id
    # of a million-row file would cost more than the whole check.
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _dups AS WITH d AS (SELECT f_external_id FROM _rows WHERE _reason IS NULL "
        "GROUP BY 1 HAVING count(*) > 1) SELECT r.f_external_id AS external_id, "
        "array_to_string(list(r.__row ORDER BY r.__row), ', ') AS row_numbers, count(*) AS n "
        "FROM _rows r SEMI JOIN d USING (f_external_id) WHERE r._reason IS NULL GROUP BY 1"
    )
    rows, ids = cur.execute("SELECT coalesce(sum(n), 0), count(*) FROM _dups").fetchall()[0]
    return int(rows), int(ids)


def has(cur, table: str) -> bool:
    return bool(cur.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = $table", {"table": table}).fetchall())


def ticket_counts(cur, replace_newer: bool = False) -> Counts:
    """Counts for _stage; leaves _cmp (see _judge) or, when the store holds none of these tickets
    yet, no _cmp at all, so the write can skip its joins."""
    known = cur.execute(
        "SELECT count(*) FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM _stage)").fetchall()[0][0]
    if known == 0:
        cur.execute("DROP TABLE IF EXISTS _cmp")
        return cur.execute("SELECT count(*) FROM _stage").fetchall()[0][0], 0, 0, 0
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _cmp AS SELECT s.ticket_id, t.row_hash AS old_hash, s.row_hash, "
        "t.version_at AS stored_version, s.version_at AS file_version "
        "FROM _stage s LEFT JOIN tickets t ON t.ticket_id = s.ticket_id"
    )
    return _judge(cur, replace_newer)


def history_counts(cur, replace_newer: bool = False) -> Counts:
    """Counts for _hist (a history file: nothing is inserted); leaves _cmp (see _judge)."""
    # The history's text as the tickets' own hashes read it (row_hash): NULL, '' and a moved
    # value differ, where a plain concat_ws would skip the NULLs.
    history = row_hash.history_md5_sql()
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _cmp AS WITH new AS (SELECT ticket_id, {history} AS row_hash, "
        "max(event_time) AS file_version FROM _hist GROUP BY 1), old AS (SELECT "
        f"ticket_id, {history} AS old_hash, max(event_time) AS stored_version "
        "FROM status_history WHERE ticket_id IN (SELECT ticket_id FROM new) GROUP BY 1) "
        "SELECT new.ticket_id, old.old_hash, new.row_hash, old.stored_version, new.file_version "
        "FROM new LEFT JOIN old USING (ticket_id)"
    )
    first, changed, same, older = _judge(cur, replace_newer)
    return 0, first + changed, same, older  # a ticket's first history counts as a change


def _judge(cur, replace_newer: bool) -> Counts:
    """Adds to _cmp `older` (changed, and the stored version is newer) and `keep` (older, and
    not replaced on purpose: the write leaves it alone); returns the counts."""
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _cmp AS SELECT *, coalesce(old_hash IS DISTINCT FROM row_hash "
        "AND stored_version > file_version, FALSE) AS older, older AND NOT $replace_newer AS keep FROM _cmp",
        {"replace_newer": replace_newer})
    return cur.execute(
        "SELECT count(*) FILTER (WHERE old_hash IS NULL), "
        "count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> row_hash AND NOT keep), "
        "count(*) FILTER (WHERE old_hash = row_hash), count(*) FILTER (WHERE older) FROM _cmp"
    ).fetchall()[0]
