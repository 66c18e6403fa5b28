"""Comparing an upload's staged rows with the store: duplicates in the file, and which tickets
are new, changed or unchanged (the counts an upload reports, and the rows its write touches)."""

from __future__ import annotations


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
    return bool(cur.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall())


def ticket_counts(cur) -> tuple[int, int, int]:
    """(inserted, updated, unchanged); leaves _cmp (ticket_id, old_hash, row_hash) or, when the
    store holds none of these tickets yet, no _cmp at all, so the write can skip its joins."""
    known = cur.execute(
        "SELECT count(*) FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM _stage)").fetchall()[0][0]
    if known == 0:
        cur.execute("DROP TABLE IF EXISTS _cmp")
        return cur.execute("SELECT count(*) FROM _stage").fetchall()[0][0], 0, 0
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _cmp AS SELECT s.ticket_id, t.row_hash AS old_hash, s.row_hash "
        "FROM _stage s LEFT JOIN tickets t ON t.ticket_id = s.ticket_id"
    )
    return cur.execute(
        "SELECT count(*) FILTER (WHERE old_hash IS NULL), "
        "count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> row_hash), "
        "count(*) FILTER (WHERE old_hash = row_hash) FROM _cmp"
    ).fetchall()[0]


def history_counts(cur) -> tuple[int, int, int]:
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _cmp AS WITH new AS (SELECT ticket_id, md5(string_agg(concat_ws('|', event_time, "
        "status, team, tier, pause_reason), ';' ORDER BY seq)) AS row_hash FROM _hist GROUP BY 1), old AS (SELECT "
        "ticket_id, md5(string_agg(concat_ws('|', event_time, status, team, tier, pause_reason), ';' ORDER BY seq)) "
        "AS old_hash "
        "FROM status_history WHERE ticket_id IN (SELECT ticket_id FROM new) GROUP BY 1) "
        "SELECT new.ticket_id, old.old_hash, new.row_hash FROM new LEFT JOIN old USING (ticket_id)"
    )
    changed, same = cur.execute(
        "SELECT count(*) FILTER (WHERE old_hash IS DISTINCT FROM row_hash), count(*) FILTER (WHERE old_hash = row_hash) FROM _cmp"
    ).fetchall()[0]
    return 0, changed, same
