"""Per-ticket KPI facts kept in memory per store version, so a filter change only aggregates.

The cohort KPIs (count, duration and rate kinds in analytics.kpi_registry) classify each ticket
the same way whatever the filter: in scope or not, which exclusion applies (the first that
matches), the measured duration, whether it counts for the rate. Those CASE expressions, the
tier-number regex and the status-history lookup for tickets without a tier cost more than the
aggregate itself, so they run once per store version (same token as analytics.sla_cache: any
upload, deletion or demo load rebuilds) into the table `facts` of a private in-memory DuckDB.
Each filter change then runs `query`: plain comparisons of small integers.

Columns of `facts`: the filter columns (Filters.where() applies unchanged), resolved_at, and per
cohort KPI: x_<key> (-1 out of scope, i = the i-th exclusion, 0 included), v_<key> (duration
KPIs: the measure) and h_<key> (rate KPIs: the numerator holds).

`outage_query` does the same for availability / MTBF: kpi_registry.OUTAGE_SQL runs unchanged
over a table `tickets` that holds only the incidents of the outage severities (the rows its
static conditions keep; a few percent of all), per store version and severity list.
"""

from __future__ import annotations

import threading
import weakref

import duckdb

from . import kpi_registry as reg
from .sla_cache import FILTER_COLUMNS, data_token

FACT_KINDS = ("count", "duration", "rate")
# Escalation level: tickets.tier's number (L2 -> 2); for a ticket without a tier, the highest
# tier number in its status history.
_LEVEL = "try_cast(regexp_extract({}, '(\\d+)', 1) AS INTEGER)"
_ESC_SQL = f"""esc AS (SELECT ticket_id, max({_LEVEL.format('tier')}) AS lvl FROM status_history
    WHERE tier IS NOT NULL AND ticket_id IN (SELECT ticket_id FROM tickets WHERE tier IS NULL) GROUP BY 1)"""


def case_sql(kpi: reg.Kpi) -> str:
    """CASE giving -1 (out of scope), i (first matching exclusion, 1-based) or 0 (included)."""
    parts = [f"WHEN NOT coalesce(({kpi.scope_sql}), false) THEN -1"] if kpi.scope_sql else []
    parts += [f"WHEN coalesce(({e.condition_sql}), false) THEN {i}"
              for i, e in enumerate(kpi.exclusions, 1)]
    return f"(CASE {' '.join(parts)} ELSE 0 END)::TINYINT" if parts else "0::TINYINT"


def _columns_sql() -> str:
    cols = []
    for k in reg.KPIS:
        if k.kind not in FACT_KINDS:
            continue
        cols.append(f"{case_sql(k)} AS x_{k.key}")
        if k.kind == "duration":
            cols.append(f"({k.measure_sql})::DOUBLE AS v_{k.key}")
        elif k.kind == "rate":
            cols.append(f"coalesce(({k.numerator_sql}), false) AS h_{k.key}")
    return ", ".join(cols)


FACTS_SQL = f"""WITH {_ESC_SQL},
f AS (SELECT tk.*, CASE WHEN tk.tier IS NULL THEN esc.lvl ELSE {_LEVEL.format('tk.tier')} END AS esc_level
      FROM tickets tk LEFT JOIN esc USING (ticket_id))
SELECT {', '.join(FILTER_COLUMNS)}, resolved_at, {_columns_sql()} FROM f ORDER BY opened_at"""

# The incidents OUTAGE_SQL can use: its static conditions (type, severity list), every column
# it or a filter reads. Bound parameter: the outage severities.
INCIDENTS_SQL = f"""SELECT {', '.join(FILTER_COLUMNS)}, impact_started_at, mitigated_at, resolved_at
FROM tickets WHERE list_contains(?::VARCHAR[], severity) AND coalesce(type, 'incident') = 'incident'"""

_lock = threading.Lock()
_entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> (token, in-memory db)
stats = {"builds": 0}


def _copy(con: duckdb.DuckDBPyConnection, mem: duckdb.DuckDBPyConnection, name_table: str,
          select_sql: str, params: list) -> None:
    rows = con.cursor().sql(select_sql, params=params or None).to_arrow_table()
    cur = mem.cursor()
    cur.register("_rows", rows)
    cur.execute(f"CREATE TABLE {name_table} AS SELECT * FROM _rows")


def _facts_db(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...] | None = None) -> duckdb.DuckDBPyConnection:
    """The in-memory database with `facts` (severities None) or the incidents of `severities`
    as `tickets` (a database of its own, so OUTAGE_SQL runs unchanged)."""
    token = data_token(con)
    with _lock:
        found = _entries.get(con)
        if found is None or found[0] != token:
            mem = duckdb.connect()
            _copy(con, mem, "facts", FACTS_SQL, [])
            found = (token, mem, {})
            _entries[con] = found
            stats["builds"] += 1
        if severities is None:
            return found[1]
        incidents = found[2].get(severities)
        if incidents is None:
            incidents = found[2][severities] = duckdb.connect()
            _copy(con, incidents, "tickets", INCIDENTS_SQL, [list(severities)])
    return incidents


def query(con: duckdb.DuckDBPyConnection, body_sql: str, params: list) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over the relation `facts` (see the module docstring) of the store's
    current version. Returns the executed cursor (then .df() / .fetchall())."""
    return _facts_db(con).cursor().execute(body_sql, params)


def outage_query(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...], body_sql: str,
                 params: list) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over `tickets` = the store's incidents of `severities` (see INCIDENTS_SQL)."""
    return _facts_db(con, tuple(severities)).cursor().execute(body_sql, params)


def clear() -> None:
    """Forget the cached facts (tests; never needed for correctness)."""
    with _lock:
        _entries.clear()
