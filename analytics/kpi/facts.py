"""Per-ticket KPI facts kept in memory per store version, so a filter change only aggregates.

The cohort KPIs (count, duration and rate kinds in analytics.kpi.registry) classify each ticket
the same way whatever the filter: in scope or not, which exclusion applies (the first that
matches), the measured duration, whether it counts for the rate. Those CASE expressions, the
tier-number regex and the status-history lookup for tickets without a tier cost more than the
aggregate itself, so they run once per store version (db.store_version, bumped by every committed
write) into the table `facts` of a private in-memory DuckDB.
Each filter change then runs `query`: plain comparisons of small integers.

Columns of `facts`: the filter columns, each text one with an integer twin <column>__code
(`query` filters on those: Filters.where(codes=...), a fraction of the cost of IN over text),
resolved_at, first_event_at / last_event_at (the ticket's first and last event of any kind,
status history included), outage_source (kpi.registry.outage_source_sql), and per cohort KPI: x_<key> (-1 out of scope, i = the i-th exclusion, 0 included),
v_<key> (duration KPIs: the measure) and h_<key> (rate KPIs: the numerator holds); per cohort,
cls_<cohort> packs all of its x_/h_ columns into one number (class_sql, decoded_sql), so
counting tickets per classification groups by one integer. The table lives in an in-memory
database attached with COMPRESS (dictionary-compressed text).

`quantiles` gives the median and p90 of duration KPIs over one set of facts rows without a
sort per filter change: each KPI's included rows are ordered by their measure once per store
version, so a filter change only marks its rows and reads the order statistics, a fraction of
what DuckDB's quantile_cont costs per KPI (docs/benchmarks.md).

`outage_query` does the same for availability / MTBF: kpi.registry.OUTAGE_SQL runs unchanged
over a table `tickets` that holds only the incidents of the outage severities (the rows its
static conditions keep; a few percent of all) with the end of their source's data, per store
version and severity list; its windows are then merged by analytics.kpi.outage_episodes.

`combos` (one row per combination of the coded filter columns) gives `data_span`, the default
period's bounds (`period_of`), and the services of the availability; `query_table` reads a
table derived from the store coded like `facts` (analytics.kpi.backlog's open spans), built on
first use in a database of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics.ingest.transform import qident
from analytics.kpi import registry as reg
from analytics.sla.cache import FILTER_COLUMNS, store_compressed
from analytics.store.cache import PerVersion
from analytics.store.exclusions import ACK_AT_OPEN_SQL
from analytics.store.filters import Filters
from analytics.store.periods import Period, undated

FACT_KINDS = ("count", "duration", "rate")
# Filter columns of text kept with integer twins (Filters.where(codes=...)); dates stay as they are.
CODED = tuple(c for c in FILTER_COLUMNS if c != "opened_at")
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


# The span of a ticket's events: every lifecycle timestamp and its status history (the default
# period and the end of open outage windows are read from these).
EVENT_COLUMNS = ("opened_at", "impact_started_at", "detected_at", "acknowledged_at", "mitigated_at",
                 "resolved_at", "closed_at")
_FIRST_SQL = f"least({', '.join(f'tk.{c}' for c in EVENT_COLUMNS)}, ev.first_event)"
_LAST_SQL = f"greatest({', '.join(f'tk.{c}' for c in EVENT_COLUMNS)}, ev.last_event)"


def facts_sql(outage_source_sql: str) -> str:
    """The facts table's SELECT; `outage_source_sql` (kpi.registry.outage_source_sql) says, over
    the ticket `tk` and its dataset `d`, whether its source describes service outages. A
    ticket's classification over all KPIs of a cohort is one number (cls_opened,
    cls_resolved): counting tickets per class takes a quarter of the time grouping by eight
    small columns does."""
    return f"""WITH {_ESC_SQL},
ev AS (SELECT ticket_id, min(event_time) AS first_event, max(event_time) AS last_event
       FROM status_history GROUP BY 1),
ack_src AS ({ACK_AT_OPEN_SQL}),
f AS (SELECT tk.*, CASE WHEN tk.tier IS NULL THEN esc.lvl ELSE {_LEVEL.format('tk.tier')} END AS esc_level,
             coalesce(tk.source IN (SELECT source FROM ack_src), false) AS ack_at_open_source,
             {_FIRST_SQL} AS first_event_at, {_LAST_SQL} AS last_event_at,
             coalesce({outage_source_sql}, false) AS outage_source
      FROM tickets tk LEFT JOIN esc USING (ticket_id) LEFT JOIN ev USING (ticket_id)
      LEFT JOIN datasets d ON d.dataset_id = tk.dataset_id),
k AS (SELECT {', '.join(FILTER_COLUMNS)}, resolved_at, first_event_at, last_event_at, outage_source,
             {_columns_sql()} FROM f)
SELECT *, {class_sql(reg.OPENED)} AS cls_{reg.OPENED}, {class_sql(reg.RESOLVED)} AS cls_{reg.RESOLVED}
FROM k ORDER BY opened_at"""


# The incidents OUTAGE_SQL can use: its static conditions (type, severity list), every column
# it or a filter reads, whether the source describes outages and the end of its source's data
# (an open outage never runs past it). Bound parameters: the sources and the last event of
# each, the outage severities.
def incidents_sql(outage_source_sql: str) -> str:
    """SELECT of the incidents of the outage severities (see above)."""
    return f"""SELECT {', '.join(f'tk.{c}' for c in FILTER_COLUMNS)}, tk.impact_started_at, tk.mitigated_at,
    tk.resolved_at, coalesce({outage_source_sql}, false) AS outage_source, e.data_end
FROM tickets tk LEFT JOIN datasets d ON d.dataset_id = tk.dataset_id
LEFT JOIN (SELECT unnest($sources::VARCHAR[]) AS source, unnest($data_ends::TIMESTAMP[]) AS data_end) e
    ON e.source IS NOT DISTINCT FROM tk.source
WHERE list_contains($severities::VARCHAR[], tk.severity) AND coalesce(tk.type, 'incident') = 'incident'"""


# One row per combination of the filter columns' values (a few thousand at most): the first
# and last event of its tickets and whether their source describes outages. The default
# period and the services of the availability are read from it, never from a full scan.
COMBOS_SQL = f"""SELECT {', '.join(CODED)}, {', '.join(f'{c}__code' for c in CODED)}, outage_source,
    min(first_event_at) AS first_event_at, max(last_event_at) AS last_event_at, count(*) AS n
FROM kept.facts GROUP BY ALL"""

_lock = threading.Lock()  # the parts each entry builds on first use
_entries: PerVersion[tuple[duckdb.DuckDBPyConnection, dict]] = PerVersion()  # (in-memory db, its parts)
stats = {"builds": 0}


def _copy(con: duckdb.DuckDBPyConnection, mem: duckdb.DuckDBPyConnection, name_table: str,
          select_sql: str, params: Mapping[str, Any], coded: tuple[str, ...] = (),
          dictionaries: dict[str, dict[str, int]] | None = None, compress: bool = True) -> dict[str, dict[str, int]]:
    """Copy the rows of `select_sql` into `name_table` of `mem`; each text column in `coded`
    gets a twin `<column>__code` (its value's number in a dictionary; NULL stays NULL), from
    `dictionaries` when given (so two tables share one coding). `compress` False: a plain table
    (faster to read many text columns of a few rows from). Returns the dictionaries:
    column -> value -> code."""
    rows = con.cursor().sql(select_sql, params=params or None).to_arrow_table()
    codes: dict[str, dict[str, int]] = {}
    for column in coded:
        values = rows[column].combine_chunks()
        if dictionaries is not None:
            codes[column] = dictionaries[column]
            indices = pc.index_in(values, value_set=pa.array(list(codes[column]), type=values.type))
        else:
            encoded = values.dictionary_encode()
            codes[column] = {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
            indices = encoded.indices
        rows = rows.append_column(f"{column}__code", indices)
    if compress:
        store_compressed(mem, name_table, rows)
    else:
        cur = mem.cursor()
        cur.register("_rows", rows)
        cur.execute(f"CREATE TABLE {name_table} AS SELECT * FROM _rows")
    return codes


def _build(con: duckdb.DuckDBPyConnection) -> tuple[duckdb.DuckDBPyConnection, dict]:
    mem = duckdb.connect()
    outage_sql = reg.outage_source_sql(con)
    codes = _copy(con, mem, "facts", facts_sql(outage_sql), {}, coded=CODED)
    mem.execute(f"CREATE TABLE combos AS {COMBOS_SQL}")
    ends = mem.execute("SELECT source, max(last_event_at) FROM combos GROUP BY 1").fetchall()
    stats["builds"] += 1
    return mem, {"codes": codes, "outage_sql": outage_sql, "data_end": ([s for s, _ in ends], [e for _, e in ends])}


def _entry(con: duckdb.DuckDBPyConnection) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """(in-memory database with `facts` and `combos`, its other cached parts) of the store's
    current version, built when the store has changed."""
    return _entries.get(con, None, lambda _: _build(con))


def _facts_db(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...] | None = None) -> duckdb.DuckDBPyConnection:
    """The in-memory database with `facts` (severities None) or the incidents of `severities`
    as `tickets` (a database of its own, so OUTAGE_SQL runs unchanged)."""
    mem, cache = _entry(con)
    if severities is None:
        return mem
    with _lock:
        incidents = cache.get(severities)
        if incidents is None:
            incidents = cache[severities] = duckdb.connect()
            _copy(con, incidents, "tickets", incidents_sql(cache["outage_sql"]),
                  {"sources": cache["data_end"][0], "data_ends": cache["data_end"][1],
                   "severities": list(severities)})
    return incidents


# a SELECT over the store and its named parameters
Select = Callable[[duckdb.DuckDBPyConnection], tuple[str, Mapping[str, Any]]]


def _table_db(con: duckdb.DuckDBPyConnection, name_table: str,
              select: Select) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """The in-memory database holding `name_table` = the rows of the SELECT and parameters
    `select(con)` gives, coded like `facts`; built on first use per store version, in a database
    of its own (a checkpoint there never waits for readers of `facts`)."""
    _, cache = _entry(con)
    with _lock:
        found = cache.get(("table", name_table))
        if found is None:
            found = duckdb.connect()
            select_sql, params = select(con)
            _copy(con, found, name_table, select_sql, params, coded=CODED, dictionaries=cache["codes"],
                  compress=False)
            cache[("table", name_table)] = found
    return found, cache


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
              params: Mapping[str, Any], probs: tuple[float, ...] = (0.5, 0.9)) -> dict[str, tuple[float | None, ...]]:
    """Per duration KPI in `keys`: its `probs` quantiles (quantile_cont) over the facts rows the
    filters and `also_sql` (with `params`) keep, of the tickets that count for the KPI."""
    mem, cache = _entry(con)  # one version for the codes, the flags and the order
    clause, where_params = filters.where(codes=cache["codes"])
    # One flag per facts row, in row order (a plain scan keeps insertion order = rowid).
    chosen = np.asarray(mem.cursor().execute(
        f"SELECT coalesce(({clause}) AND ({also_sql}), false) AS m FROM kept.facts",
        {**where_params, **params}).fetchnumpy()["m"], dtype=bool)
    out = {}
    for key in keys:
        pos, values = _ordered(mem, cache, key)
        picked = values[chosen[pos]]
        out[key] = tuple(continuous_quantile(picked, q) for q in probs)
    return out


def query(con: duckdb.DuckDBPyConnection, filters: Filters, body_sql: Callable[[str], str],
          params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """Run `body_sql(where)` over the relation `facts` (see the module docstring) of the store's
    current version, `where` being the filters' clause over the coded columns, with its named
    parameters and `params` (named apart from the filters' `f_…`). Returns the executed cursor
    (then .df() / .fetchall())."""
    mem, cache = _entry(con)  # one version for the codes and the rows
    clause, where_params = filters.where(codes=cache["codes"])
    return mem.cursor().execute(body_sql(clause), {**where_params, **params})


def query_table(con: duckdb.DuckDBPyConnection, name_table: str, select: Select, filters: Filters,
                body_sql: Callable[[str], str], params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """As `query`, over the relation `name_table` built from `select` (see _table_db)."""
    mem, cache = _table_db(con, name_table, select)
    clause, where_params = filters.where(codes=cache["codes"])
    return mem.cursor().execute(body_sql(clause), {**where_params, **params})


def query_combos(con: duckdb.DuckDBPyConnection, filters: Filters, body_sql: Callable[[str], str],
                 params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """As `query`, over the relation `combos` (see COMBOS_SQL); `filters` must be undated."""
    mem, cache = _entry(con)
    clause, where_params = filters.where(codes=cache["codes"])
    return mem.cursor().execute(body_sql(clause), {**where_params, **params})


def data_span(con: duckdb.DuckDBPyConnection, filters: Filters):
    """(first, last) event instant of the tickets the filters select, their dates left aside
    (None, None without tickets): every lifecycle timestamp and status change counts."""
    key = undated(filters)
    _, cache = _entry(con)
    known = cache.setdefault("data_span", {})  # per filter; a few hundred at most are kept
    found = known.get(key)
    if found is None:
        found = tuple(query_combos(con, key, lambda where: (
            f"SELECT min(first_event_at), max(last_event_at) FROM combos WHERE {where}"), {}).fetchall()[0])
        with _lock:
            if len(known) >= 256:
                known.pop(next(iter(known)))
            known[key] = found
    return found


def period_of(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> Period:
    """The period the filters select (analytics.store.periods): their dates, else the data's span."""
    start = datetime.combine(filters.date_from, time.min) if filters.date_from else None
    end = (datetime.combine(filters.date_to + timedelta(days=1), time.min)
           if filters.date_to else None)
    first, last = data_span(con, filters)
    if start is None:
        start = datetime.combine(first.date(), time.min) if first else (end or as_of) - timedelta(days=1)
    if end is None:
        end = datetime.combine(last.date() + timedelta(days=1), time.min) if last else max(as_of, start)
        end = max(min(end, as_of), start + timedelta(days=1))
    if end <= start:
        end = start + timedelta(days=1)
    return Period(start, end, as_of, last)


def outage_query(con: duckdb.DuckDBPyConnection, severities: tuple[str, ...], body_sql: str,
                 params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """Run `body_sql` over `tickets` = the store's incidents of `severities` (see INCIDENTS_SQL)."""
    return _facts_db(con, tuple(severities)).cursor().execute(body_sql, params)


def clear() -> None:
    """Forget the cached facts (tests; never needed for correctness)."""
    _entries.clear()
