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

_lock = threading.Lock()
_entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> (token, in-memory db)
stats = {"builds": 0}


def _facts_db(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    token = data_token(con)
    with _lock:
        found = _entries.get(con)
        if found is None or found[0] != token:
            rows = con.cursor().sql(FACTS_SQL).to_arrow_table()
            mem = duckdb.connect()
            mem.register("_rows", rows)
            mem.execute("CREATE TABLE facts AS SELECT * FROM _rows")
            mem.unregister("_rows")
            found = (token, mem)
            _entries[con] = found
            stats["builds"] += 1
    return found[1]


def query(con: duckdb.DuckDBPyConnection, body_sql: str, params: list) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over the relation `facts` (see the module docstring) of the store's
    current version. Returns the executed cursor (then .df() / .fetchall())."""
    return _facts_db(con).cursor().execute(body_sql, params)


def clear() -> None:
    """Forget the cached facts (tests; never needed for correctness)."""
    with _lock:
        _entries.clear()
