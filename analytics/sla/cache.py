"""Per-ticket SLA judgements kept in memory per store version, so a filter change only aggregates.

Why here and not at the Streamlit edge: the judgement of a ticket depends on the data, the SLA
policies and the as-of time, never on the filters, and it is the expensive part (the SLA engine
over a million tickets takes seconds). The Overview, KPI trends and the CLI all ask for filtered
SLA compliance; each answer is a filtered aggregate over this cache (`query`).

What invalidates it: the store's version (db.store_version), which every committed write bumps
in its own transaction (db.transaction): an upload, a deletion, a policy save, any update in
place. The next `query` after a write rebuilds.

The as-of time: a ticket whose clocks have stopped — cancelled, or resolved/closed with its
opening, acknowledgement, resolution and every history event at or before the as-of time —
gets the same judgement at any later as-of time ("settled"). The cache judges all tickets
once at the first as-of time A0, and for a later as-of time re-judges only the others (the
open ones, a few percent): the table `settled` (judged at A0) plus a `live_<n>` table judged at
that time, both in a private in-memory DuckDB. An as-of time before A0 gets a base of its own
(analytics/store/cache.py keeps a few), and each later as-of time uses the latest base before
it. docs/benchmarks.md has what each step costs at a million tickets.
analytics.sla.compliance.counts is the one reader: the SLA-compliance cohort is defined there.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from analytics.sla import engine
from analytics.store.cache import PerVersion

# Per ticket: the filter columns (so Filters.where() applies unchanged), the two judgements as
# codes into sla.engine.STATUS_TEXT (0 = not applicable, 1 = met, 2 = breached, 3 = running,
# 4 = paused), when each clock stopped by the as-of time (the engine's stopped_at, not today's
# status: a ticket resolved after the as-of time was still running then; NULL while running)
# and when it breached or will (the engine's breach_at); the policy version that judged it.
FILTER_COLUMNS = ("opened_at", "severity", "service", "team", "source", "type", "status_category")
JUDGEMENT_COLUMNS = tuple(f"{m}_{c}" for m in ("response", "resolution")
                          for c in ("status", "stopped_at", "breach_at"))
COLUMNS = (*FILTER_COLUMNS, *JUDGEMENT_COLUMNS, "policy_version")
LIVE_KEEP = 4  # as-of times whose live rows are kept (the page moves on by the minute)

# A ticket whose judgement no later as-of time can change (see the module docstring). Bound
# parameter: the as-of time $a0.
SETTLED_SQL = """coalesce(opened_at IS NULL OR status_category = 'cancelled'
    OR (status_category IN ('resolved', 'closed') AND opened_at <= $a0
        AND coalesce(acknowledged_at <= $a0, true) AND coalesce(resolved_at <= $a0, true)
        AND ticket_id NOT IN (SELECT ticket_id FROM status_history WHERE event_time > $a0)), false)"""
LIVE_SQL = f"NOT {SETTLED_SQL}"

@dataclass
class _Entry:
    base_as_of: datetime
    db: duckdb.DuckDBPyConnection  # in-memory: table `settled` (judged at base_as_of), live_<n>
    live: dict[datetime, str] = field(default_factory=dict)  # as-of time -> its live table
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # table -> columns (`arrays`)


_lock = threading.Lock()  # the entries' live tables and arrays
# Per store version, the judgements at a few base as-of times: an earlier as-of time gets a
# base of its own and leaves the later one in place (Governance asks at a window's end, the
# other pages at now).
_entries: PerVersion[_Entry] = PerVersion(keep=3)
_names = itertools.count()
stats = {"builds": 0, "live_builds": 0}  # how often the engine ran (tests and the benchmark read it)


def _judged(con: duckdb.DuckDBPyConnection, as_of: datetime, where_sql: str,
            params: Mapping[str, Any]) -> pa.Table:
    """COLUMNS for the tickets matching `where_sql`, judged by the SLA engine at `as_of`."""
    ev = engine.evaluate(con, as_of=as_of, where=where_sql, params=params)
    judged = pa.table({"ticket_id": pa.Array.from_pandas(ev["ticket_id"]),
                       **{f"{m}_status": pa.array(ev[f"{m}_status"].cat.codes.to_numpy().astype(np.uint8))
                          for m in ("response", "resolution")},
                       **{f"{m}_{c}": pa.Array.from_pandas(ev[f"{m}_{c}"].astype("datetime64[us]"))
                          for m in ("response", "resolution") for c in ("stopped_at", "breach_at")},
                       "policy_version": pa.array(ev["policy_version"].astype(object), pa.string(), from_pandas=True)})
    cur = con.cursor()
    cur.register("_sla_judged", judged)
    cols_sql = ", ".join([*(f"t.{c}" for c in FILTER_COLUMNS), *(f"j.{c}" for c in COLUMNS[len(FILTER_COLUMNS):])])
    return cur.sql(f"SELECT {cols_sql} FROM tickets t JOIN _sla_judged j "
                   "USING (ticket_id) ORDER BY t.opened_at").to_arrow_table()


def _store(mem: duckdb.DuckDBPyConnection, name_table: str, rows: pa.Table) -> None:
    cur = mem.cursor()
    cur.register("_rows", rows)
    cur.execute(f"CREATE TABLE {name_table} AS SELECT * FROM _rows")


def store_compressed(mem: duckdb.DuckDBPyConnection, name_table: str, rows: pa.Table) -> None:
    """`rows` as the relation `name_table` of the in-memory database `mem`, kept compressed
    (table kept.<name_table>, a view under the plain name). In memory, only a database attached
    with COMPRESS and checkpointed keeps its text dictionary-compressed, which makes the
    filters' comparisons over a million rows 2-3x cheaper."""
    cur = mem.cursor()
    cur.register("_rows", rows)
    cur.execute("ATTACH IF NOT EXISTS ':memory:' AS kept (COMPRESS)")
    cur.execute(f"CREATE TABLE kept.{name_table} AS SELECT * FROM _rows")
    cur.execute("CHECKPOINT kept")
    cur.execute(f"CREATE VIEW {name_table} AS SELECT * FROM kept.{name_table}")


def _build(con: duckdb.DuckDBPyConnection, base_as_of: datetime) -> _Entry:
    mem = duckdb.connect()
    store_compressed(mem, "settled", _judged(con, base_as_of, SETTLED_SQL, {"a0": base_as_of}))
    stats["builds"] += 1
    return _Entry(base_as_of, mem)


def _entry(con: duckdb.DuckDBPyConnection, as_of: datetime) -> tuple[_Entry, str]:
    """The cache entry for the store's current version with the latest base at or before
    `as_of`, and the name of its live table at `as_of`."""
    entry = _entries.get(con, as_of, lambda base: _build(con, base), usable=lambda base: base <= as_of)
    with _lock:
        live_table = entry.live.pop(as_of, None)
        if live_table is not None:
            entry.live[as_of] = live_table  # the most recently used goes last
        else:
            live_table = f"live_{next(_names)}"
            _store(entry.db, live_table, _judged(con, as_of, LIVE_SQL, {"a0": entry.base_as_of}))
            entry.live[as_of] = live_table
            # The least recently used go, not the earliest as-of: that may be the one just made
            # (Governance evaluates at the window's end, other pages at now).
            for old in list(entry.live)[:-LIVE_KEEP]:
                dropped = entry.live.pop(old)
                entry.arrays.pop(dropped, None)
                entry.db.execute(f"DROP TABLE {dropped}")
            stats["live_builds"] += 1
    return entry, live_table


def query(con: duckdb.DuckDBPyConnection, as_of: datetime, body_sql: str,
          params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over the relation `tickets` = one row per ticket with COLUMNS as the SLA
    engine judges it at `as_of`. Returns the executed cursor (then .fetchall() / .df())."""
    entry, live_table = _entry(con, as_of)
    return entry.db.cursor().execute(
        f"WITH tickets AS (SELECT * FROM settled UNION ALL SELECT * FROM {live_table}) {body_sql}", params)


NEVER = np.iinfo(np.int64).max  # an instant that never came: a clock not stopped, a breach not due
# The judgement columns as numpy (statuses; instants as microseconds since 1970, NULL = NEVER).
_ARRAYS_SQL = ", ".join(
    [f"{m}_status" for m in ("response", "resolution")]
    + [f"coalesce(epoch_us({c}), {NEVER}) AS {c}" for c in ("opened_at", *JUDGEMENT_COLUMNS) if c.endswith("_at")])


def arrays(con: duckdb.DuckDBPyConnection, as_of: datetime, where_sql: str = "TRUE",
           params: Mapping[str, Any] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The judgement columns of every ticket at `as_of` as numpy arrays (statuses; instants as
    microseconds since 1970, NULL = NEVER; settled rows, then the live ones; built once per
    store version and as-of time), and per ticket whether `where_sql` (over COLUMNS) holds."""
    entry, live_table = _entry(con, as_of)
    with _lock:
        both = entry.arrays.get(live_table)
        if both is None:
            parts = []
            for table in ("settled", live_table):
                got = entry.arrays.get(table) if table == "settled" else None
                if got is None:
                    got = {k: np.asarray(v) for k, v in
                           entry.db.cursor().execute(f"SELECT {_ARRAYS_SQL} FROM {table}").fetchnumpy().items()}
                    if table == "settled":
                        entry.arrays["settled"] = got
                parts.append(got)
            both = entry.arrays[live_table] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cur = entry.db.cursor()
    flags = np.concatenate([np.asarray(cur.execute(f"SELECT coalesce(({where_sql}), false) AS m FROM {table}",
                                                   params or {}).fetchnumpy()["m"], dtype=bool)
                            for table in ("settled", live_table)])
    return both, flags


def clear() -> None:
    """Forget every cached judgement (tests; never needed for correctness)."""
    _entries.clear()
