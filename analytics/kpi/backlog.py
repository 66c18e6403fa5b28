"""The open backlog: when each ticket was open, read once per store version, asked at any moment.

One definition (kpi.registry.BACKLOG_TEXT) for the Overview, the KPI registry's backlog KPIs and
the closure criteria: a ticket is open at T when it was opened before T and was not resolved,
closed or cancelled at T. A ticket with a status history is read from it: its spans of being
open run from the opening to its first resolved/closed/cancelled status, and from each later
return to an open status (a reopen) to the next such status. A ticket without history is open
from its opening to the earlier of resolved_at and closed_at (a cancelled one to closed_at; one
open today has no end: its older resolution was undone by a reopen); without any of those times
it is an exclusion (kpi.registry.BACKLOG_EXCLUSIONS, `why` 1 or 2).

The spans are built by `spans_sql` and kept by analytics.kpi.facts (table `spans`, coded like
`facts`) and read by `query_spans`: `counts`, `open_frame` and `open_tickets` ask them about one
moment or many.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from analytics.ingest import normalise
from analytics.kpi import facts
from analytics.kpi import registry as reg
from analytics.sla.cache import FILTER_COLUMNS
from analytics.store.filters import Filters
from analytics.store.periods import undated

DONE = ("resolved", "closed", "cancelled")
# Open at $te: the span of one ticket that holds that moment.
OPEN_AT_SQL = "why = 0 AND opened_at < $te AND span_from <= $te AND (span_until IS NULL OR span_until > $te)"


def history_categories(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, str, str]]:
    """(dataset_id, status, category) of every status in the status history, read with the
    profile of the upload that wrote it ([status_map] first, then the common vocabulary)."""
    cur = con.cursor()
    maps: dict[Any, dict[str, str]] = {}
    for dataset_id, toml in cur.execute("SELECT dataset_id, profile_toml FROM datasets").fetchall():
        try:
            maps[dataset_id] = dict(tomllib.loads(toml or "").get("status_map", {}))
        except tomllib.TOMLDecodeError:
            maps[dataset_id] = {}
    pairs = cur.execute("SELECT DISTINCT dataset_id, status FROM status_history WHERE status IS NOT NULL").fetchall()
    return [(d, s, normalise.status_category(s, maps.get(d))) for d, s in pairs]


def spans_sql(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, Any]]:
    """SELECT of the open spans (filter columns, ticket_id, title, status, span_from, span_until,
    why) and its parameters (the history's statuses and whether each one ends a span)."""
    cats = history_categories(con)
    done_sql = " ".join(f"WHEN {e.condition_sql} THEN {i}" for i, e in enumerate(reg.BACKLOG_EXCLUSIONS, 1))
    cols = ", ".join(f"t.{c}" for c in FILTER_COLUMNS)
    return f"""WITH hc AS (SELECT unnest($datasets::INTEGER[]) AS dataset_id, unnest($statuses::VARCHAR[]) AS status,
                     unnest($done::BOOLEAN[]) AS done),
h AS MATERIALIZED (SELECT h.ticket_id, h.event_time, h.seq, hc.done FROM status_history h
      JOIN hc ON hc.dataset_id IS NOT DISTINCT FROM h.dataset_id AND hc.status = h.status),
ch AS (SELECT *, coalesce(lag(done) OVER (PARTITION BY ticket_id ORDER BY event_time, seq), false) AS prev FROM h),
x AS (SELECT ticket_id, event_time, done,
             lead(event_time) OVER (PARTITION BY ticket_id ORDER BY event_time, seq) AS next_t
      FROM ch WHERE done <> prev),
first_done AS (SELECT ticket_id, min(event_time) AS t1 FROM x GROUP BY 1),
t AS (SELECT *, ticket_id IN (SELECT ticket_id FROM h) AS has_history FROM tickets WHERE opened_at IS NOT NULL),
s AS (SELECT t.ticket_id, t.opened_at AS span_from, fd.t1 AS span_until, 0 AS why
      FROM t LEFT JOIN first_done fd USING (ticket_id) WHERE has_history
      UNION ALL
      SELECT ticket_id, event_time, next_t, 0 FROM x WHERE NOT done
      UNION ALL
      SELECT ticket_id, opened_at,
             CASE WHEN status_category = 'open' THEN NULL
                  WHEN status_category = 'cancelled' THEN closed_at
                  WHEN status_category IN ('resolved', 'closed') THEN least(resolved_at, closed_at) END,
             CASE {done_sql} ELSE 0 END
      FROM t WHERE NOT has_history)
SELECT {cols}, t.ticket_id, t.title, t.status, s.span_from, s.span_until, s.why::TINYINT AS why
FROM s JOIN t USING (ticket_id) WHERE s.span_until IS NULL OR s.span_until > s.span_from OR s.why > 0""", {
        "datasets": [d for d, _, _ in cats], "statuses": [s for _, s, _ in cats],
        "done": [c in DONE for _, _, c in cats]}


def query_spans(con: duckdb.DuckDBPyConnection, filters: Filters, body_sql: Callable[[str], str],
                params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """As kpi.facts.query, over the relation `spans` (see the module docstring)."""
    return facts.query_table(con, "spans", spans_sql, filters, body_sql, params)


def counts(con: duckdb.DuckDBPyConnection, filters: Filters, ends: list[datetime],
           group_sql: str = "'All'") -> pd.DataFrame:
    """Per moment in `ends` (column bucket = its position) and group (`group_sql`, code over
    the filter columns): n open, median age in days, and x1, x2 (the tickets opened before it
    that BACKLOG_EXCLUSIONS leave out). The filters' dates are not used."""
    return query_spans(con, undated(filters), lambda where: f"""
        WITH s AS (SELECT * FROM spans WHERE {where}),
        e AS (SELECT unnest($buckets::INTEGER[]) AS bucket, unnest($ends::TIMESTAMP[]) AS te)
        SELECT e.bucket, {group_sql} AS grp,
            count(*) FILTER (WHERE {_open('te')}) AS n,
            median(date_diff('second', opened_at, te) / 86400.0) FILTER (WHERE {_open('te')}) AS age,
            count(*) FILTER (WHERE why = 1) AS x1, count(*) FILTER (WHERE why = 2) AS x2
        FROM e JOIN s ON s.opened_at < e.te GROUP BY ALL""",
        {"buckets": list(range(len(ends))), "ends": list(ends)}).df()


def _open(te: str) -> str:
    return f"why = 0 AND span_from <= {te} AND (span_until IS NULL OR span_until > {te})"


def open_frame(con: duckdb.DuckDBPyConnection, filters: Filters, te: datetime, limit: int | None = None
               ) -> pd.DataFrame:
    """The tickets open at `te`, most severe then oldest first (the first `limit`): ticket_id,
    severity, title, service, team, status (today's), opened_at, age_days (te − opened_at).
    The filters' dates are not used."""
    return query_spans(con, undated(filters), lambda where: f"""
        WITH s AS (SELECT ticket_id, severity, title, service, team, status, opened_at FROM spans
                   WHERE ({where}) AND {OPEN_AT_SQL})
        SELECT *, date_diff('second', opened_at, $te::TIMESTAMP) / 86400.0 AS age_days
        FROM s ORDER BY coalesce(severity, 'SEV-9'), opened_at, ticket_id LIMIT $limit""",
        {"te": te, "limit": limit}).df()


def open_tickets(con: duckdb.DuckDBPyConnection, filters: Filters, te: datetime) -> tuple[set[str], set[str]]:
    """(ids open at `te`, ids opened before it whose state cannot be read: BACKLOG_EXCLUSIONS)."""
    rows = query_spans(con, undated(filters), lambda where: f"""
        SELECT ticket_id, why FROM spans WHERE ({where}) AND opened_at < $te
            AND (why > 0 OR (span_from <= $te AND (span_until IS NULL OR span_until > $te)))""",
        {"te": te}).fetchall()
    return {t for t, w in rows if w == 0}, {t for t, w in rows if w > 0}
