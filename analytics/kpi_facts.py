"""Per-ticket KPI facts kept in memory per store version, so a filter change only aggregates.

The cohort KPIs (count, duration and rate kinds in analytics.kpi_registry) classify each ticket
the same way whatever the filter: in scope or not, which exclusion applies (the first that
matches), the measured duration, whether it counts for the rate. Those CASE expressions, the
tier-number regex and the status-history lookup for tickets without a tier cost more than the
aggregate itself, so they run once per store version (same token as analytics.sla_cache: any
upload, deletion or demo load rebuilds) into the table `facts` of a private in-memory DuckDB.
Each filter change then runs `query`: plain comparisons of small integers.

Columns of `facts`: the filter columns, each text one with an integer twin <column>__code
(`query` filters on those: Filters.where(codes=...), a fraction of the cost of IN over text),
resolved_at, and per cohort KPI: x_<key> (-1 out of scope, i = the i-th exclusion, 0 included),
v_<key> (duration KPIs: the measure) and h_<key> (rate KPIs: the numerator holds); per cohort,
cls_<cohort> packs all of its x_/h_ columns into one number (class_sql, decoded_sql), so
counting tickets per classification groups by one integer. The table lives in an in-memory
database attached with COMPRESS (dictionary-compressed text).

`quantiles` gives the median and p90 of duration KPIs over one set of facts rows without a
sort per filter change: each KPI's included rows are ordered by their measure once per store
version, so a filter change only marks its rows and reads the order statistics (about 4 ms at a
million tickets where DuckDB's quantile_cont takes about 20 ms per KPI).

`outage_query` does the same for availability / MTBF: kpi_registry.OUTAGE_SQL runs unchanged
over a table `tickets` that holds only the incidents of the outage severities (the rows its
static conditions keep; a few percent of all), per store version and severity list; its windows
are then merged by analytics.outage_episodes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

import duckdb
import numpy as np

from . import kpi_registry as reg
from .filters import Filters
from .sla_cache import FILTER_COLUMNS, data_token, store_compressed
from .transform import qident

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


def _class_parts(cohort: str) -> list[tuple[str, int, int, int]]:
    """(column, offset, size, multiplier) of each classification column of the cohort's KPIs,
    as digits of one mixed-radix number: cls = sum((value + offset) * multiplier)."""
    parts, mult = [], 1
    for k in reg.KPIS:
        if k.kind not in FACT_KINDS or k.kind == "count" or k.cohort != cohort:
            continue
        digits = [(f"x_{k.key}", 1, len(k.exclusions) + 2)]
        if k.kind == "rate":
            digits.append((f"h_{k.key}", 0, 2))
        for column, offset, size in digits:
            parts.append((column, offset, size, mult))
            mult *= size
    return parts


def class_sql(cohort: str) -> str:
    """The cohort's class number from its classification columns (see _class_parts)."""
    terms = [f"({c}::INTEGER + {o}) * {m}" for c, o, _, m in _class_parts(cohort)]
    return " + ".join(terms) if terms else "0"


def decoded_sql(cohort: str, column: str) -> str:
    """`column` (x_<key> or h_<key>) read back from the cohort's class number `cls`."""
    for c, offset, size, mult in _class_parts(cohort):
        if c == column:
            value = f"(cls // {mult}) % {size}"
            return f"({value} = 1)" if c.startswith("h_") else f"({value} - {offset})::TINYINT"
    raise KeyError(f"{column} is not a classification column of the {cohort} cohort")


# A ticket's classification over all KPIs of a cohort as one number (cls_opened, cls_resolved):
# counting tickets per class takes a quarter of the time grouping by eight small columns does.
FACTS_SQL = f"""WITH {_ESC_SQL},
f AS (SELECT tk.*, CASE WHEN tk.tier IS NULL THEN esc.lvl ELSE {_LEVEL.format('tk.tier')} END AS esc_level
      FROM tickets tk LEFT JOIN esc USING (ticket_id)),
k AS (SELECT {', '.join(FILTER_COLUMNS)}, resolved_at, {_columns_sql()} FROM f)
SELECT *, {class_sql(reg.OPENED)} AS cls_{reg.OPENED}, {class_sql(reg.RESOLVED)} AS cls_{reg.RESOLVED}
FROM k ORDER BY opened_at"""

# The incidents OUTAGE_SQL can use: its static conditions (type, severity list), every column
# it or a filter reads. Bound parameter: the outage severities.
INCIDENTS_SQL = f"""SELECT {', '.join(FILTER_COLUMNS)}, impact_started_at, mitigated_at, resolved_at
FROM tickets WHERE list_contains(?::VARCHAR[], severity) AND coalesce(type, 'incident') = 'incident'"""

# Filter columns of text kept with integer twins (Filters.where(codes=...)); dates stay as they are.
CODED = tuple(c for c in FILTER_COLUMNS if c != "opened_at")
_lock = threading.Lock()
_entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> (token, in-memory db)
stats = {"builds": 0}


def _copy(con: duckdb.DuckDBPyConnection, mem: duckdb.DuckDBPyConnection, name_table: str,
          select_sql: str, params: list, coded: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Copy the rows of `select_sql` into `name_table` of `mem`; each text column in `coded`
    gets a twin `<column>__code` (its value's number in a dictionary; NULL stays NULL).
    Returns the dictionaries: column -> value -> code."""
    rows = con.cursor().sql(select_sql, params=params or None).to_arrow_table()
    codes: dict[str, dict[str, int]] = {}
    for column in coded:
        encoded = rows[column].combine_chunks().dictionary_encode()
        codes[column] = {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
        rows = rows.append_column(f"{column}__code", encoded.indices)
    store_compressed(mem, name_table, rows)
    return codes


def _entry(con: duckdb.DuckDBPyConnection) -> tuple[object, duckdb.DuckDBPyConnection, dict]:
    """(store version, in-memory database with `facts`, its other cached parts) of the store's
    current version, built when the store has changed."""
    token = data_token(con)
    with _lock:
        found = _entries.get(con)
        if found is None or found[0] != token:
            mem = duckdb.connect()
            codes = _copy(con, mem, "facts", FACTS_SQL, [], coded=CODED)
            found = (token, mem, {"codes": codes})
            _entries[con] = found
            stats["builds"] += 1
    return found


def _facts_db(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...] | None = None) -> duckdb.DuckDBPyConnection:
    """The in-memory database with `facts` (severities None) or the incidents of `severities`
    as `tickets` (a database of its own, so OUTAGE_SQL runs unchanged)."""
    _, mem, cache = _entry(con)
    if severities is None:
        return mem
    with _lock:
        incidents = cache.get(severities)
        if incidents is None:
            incidents = cache[severities] = duckdb.connect()
            _copy(con, incidents, "tickets", INCIDENTS_SQL, [list(severities)])
    return incidents


def _ordered(mem: duckdb.DuckDBPyConnection, cache: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of `facts` whose ticket counts for duration KPI `key` (x_key = 0, a measure),
    ordered by the measure, and the measures in that order (built once per store version)."""
    with _lock:
        found = cache.get(("ordered", key))
        if found is None:
            v, x = qident(f"v_{key}"), qident(f"x_{key}")
            got = mem.cursor().execute(
                f"SELECT rowid AS pos, {v} AS v FROM kept.facts WHERE {x} = 0 AND {v} IS NOT NULL "
                f"ORDER BY {v}").fetchnumpy()
            found = cache[("ordered", key)] = (np.asarray(got["pos"], dtype=np.int64),
                                               np.asarray(got["v"], dtype=np.float64))
    return found


def continuous_quantile(ordered: np.ndarray, q: float) -> float | None:
    """quantile_cont of the ascending values `ordered` (DuckDB's definition): with h = (n - 1) q
    and d its fraction, lo (1 - d) + hi d of the values at floor(h) and ceil(h). Equal to
    DuckDB's result up to the last bits of a double (tests/test_kpi_facts.py)."""
    n = len(ordered)
    if n == 0:
        return None
    h = (n - 1) * q
    lo = int(np.floor(h))
    hi = int(np.ceil(h))
    if lo == hi:
        return float(ordered[lo])
    d = h - lo
    return float(ordered[lo]) * (1.0 - d) + float(ordered[hi]) * d


def quantiles(con: duckdb.DuckDBPyConnection, keys: list[str], filters: Filters, also_sql: str,
              params: list, probs: tuple[float, ...] = (0.5, 0.9)) -> dict[str, tuple[float | None, ...]]:
    """Per duration KPI in `keys`: its `probs` quantiles (quantile_cont) over the facts rows the
    filters and `also_sql` (with `params`) keep, of the tickets that count for the KPI."""
    _, mem, cache = _entry(con)  # one version for the codes, the flags and the order
    clause, where_params = filters.where(codes=cache["codes"])
    # One flag per facts row, in row order (a plain scan keeps insertion order = rowid).
    chosen = np.asarray(mem.cursor().execute(
        f"SELECT coalesce(({clause}) AND ({also_sql}), false) AS m FROM kept.facts",
        [*where_params, *params]).fetchnumpy()["m"], dtype=bool)
    out = {}
    for key in keys:
        pos, values = _ordered(mem, cache, key)
        picked = values[chosen[pos]]
        out[key] = tuple(continuous_quantile(picked, q) for q in probs)
    return out


def query(con: duckdb.DuckDBPyConnection, filters: Filters, body_sql: Callable[[str], str],
          params: list) -> duckdb.DuckDBPyConnection:
    """Run `body_sql(where)` over the relation `facts` (see the module docstring) of the store's
    current version, `where` being the filters' clause over the coded columns; its parameters
    come first, then `params`. Returns the executed cursor (then .df() / .fetchall())."""
    _, mem, cache = _entry(con)  # one version for the codes and the rows
    clause, where_params = filters.where(codes=cache["codes"])
    return mem.cursor().execute(body_sql(clause), [*where_params, *params])


def outage_query(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...], body_sql: str,
                 params: list) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over `tickets` = the store's incidents of `severities` (see INCIDENTS_SQL)."""
    return _facts_db(con, tuple(severities)).cursor().execute(body_sql, params)


def clear() -> None:
    """Forget the cached facts (tests; never needed for correctness)."""
    with _lock:
        _entries.clear()
