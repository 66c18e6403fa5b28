"""KPI computation from the registry (analytics.kpi.registry): SQL per cohort, pandas for outages.

`frame()` is the core: one row per (bucket, group, KPI) with value, n, mean/median/p90,
exclusions and the reason a value is missing. `results()` wraps it for one period into
`KpiResult`s with target, status and the previous period; `table()` feeds the CLI.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from analytics.kpi import backlog, facts
from analytics.kpi import registry as reg
from analytics.kpi.outages import outage_rows
from analytics.kpi.sla_kpis import sla_rows
from analytics.sla.definitions import SLA_SMALL_N
from analytics.store.filters import Filters
from analytics.store.periods import COMPARE, Period, bucket_sql, normalise_as_of, split_sql, undated, windows

MET, MISSED, NOT_MEASURABLE, NO_TARGET = "met", "missed", "not measurable", "no target"
SMALL_N = 5  # durations and rates; SLA compliance flags n < SLA_SMALL_N


def small_n(key: str) -> int:
    """The n below which a KPI's value is flagged as a small sample."""
    return SLA_SMALL_N if reg.get(key).kind == "sla" else SMALL_N
FRAME_COLUMNS = ["bucket", "group", "key", "value", "n", "mean", "median", "p90", "excluded",
                 "reason", "extra"]


@dataclass(frozen=True)
class KpiResult:
    """One KPI for one period. `value` is None when not computable (`reason` says why)."""

    key: str
    value: float | None
    n: int
    unit: str
    target: float | None
    status: str  # met / missed / not measurable / no target
    excluded: tuple[tuple[str, int], ...] = ()
    reason: str | None = None
    previous: float | None = None
    change: float | None = None
    stats: dict[str, float | None] = field(default_factory=dict)  # mean, median, p90
    extra: dict[str, Any] = field(default_factory=dict)  # per-service rows, open breached, …

    @property
    def small_sample(self) -> bool:
        return self.value is not None and 0 < self.n < small_n(self.key)


def status_of(kpi: reg.Kpi, value: float | None, target: float | None) -> str:
    """met / missed against the target (at or better than it = met); text, never colour."""
    if value is None:
        return NOT_MEASURABLE
    if target is None:
        return NO_TARGET
    ok = value >= target if kpi.direction == reg.HIGHER else value <= target
    return MET if ok else MISSED


def _folds(kpi: reg.Kpi) -> list[str]:
    """Per-KPI counts folded from the per-class counts `n`."""
    x, k = f"x_{kpi.key}", kpi.key
    if kpi.kind == "count":
        return []
    conds = [(f"{x} = 0", f"{k}__n")]
    if kpi.kind == "rate":
        conds.append((f"{x} = 0 AND h_{k}", f"{k}__hits"))
    conds += [(f"{x} = {i}", f"{k}__x{i}") for i in range(1, len(kpi.exclusions) + 1)]
    out = [f"coalesce(sum(n) FILTER (WHERE {cond}), 0)::BIGINT AS {alias}" for cond, alias in conds]
    if kpi.kind == "duration":  # the mean of the included tickets' measures
        out.append(f"sum(s_{k}) FILTER (WHERE {x} = 0) / nullif(sum(k_{k}) FILTER (WHERE {x} = 0), 0) AS {k}__mean")
    return out


def _decoded(kpis: list[reg.Kpi], cohort: str) -> list[str]:
    """The classification columns the folds read, decoded from the class number."""
    return [f"{facts.decoded_sql(cohort, c)} AS {c}" for k in kpis if k.kind != "count"
            for c in (f"x_{k.key}", *([f"h_{k.key}"] if k.kind == "rate" else []))]


def _quantiles(kpi: reg.Kpi, quantiles_sql: str) -> str:
    """Median and p90 of a duration KPI's included tickets among the rows `quantiles_sql` selects."""
    k = kpi.key
    return f"quantile_cont(CASE WHEN x_{k} = 0 AND {quantiles_sql} THEN v_{k} END, [0.5, 0.9]) AS {k}__q"


def _cohort_frame(con, filters: Filters, period: Period, kpis: list[reg.Kpi], cohort: str,
                  grain: str | None, split: str | None, stats: bool = True) -> pd.DataFrame:
    """One row per (bucket, group) of the opened / resolved cohort with every aggregate, over
    the per-ticket facts (analytics.kpi.facts): tickets counted per class first (one number
    for a ticket's classification over all of the cohort's KPIs, a few hundred classes), with
    the sum and count of each duration beside, then folded per KPI.

    grain "compare": two buckets, "current" (the period) and "previous" (the one before);
    median and p90 only for the current one (the previous period shows its headline value).
    Where they are wanted for one bucket and group only (the KPI cards), they come from
    kpi.facts.quantiles (same values, no sort per filter change)."""
    time_col = "opened_at" if cohort == reg.OPENED else "resolved_at"
    one_group = stats and grain in (COMPARE, None) and split in (None, "none")
    quantiles_sql = None if one_group or not stats else ("bucket = 'current'" if grain == COMPARE else "true")
    timed = [k for k in kpis if k.kind == "duration"]
    sums_sql = "".join(f", sum(v_{k.key}) AS s_{k.key}, count(v_{k.key}) AS k_{k.key}" for k in timed)
    decoded_sql = ", ".join(["*", *_decoded(kpis, cohort)])
    folds_sql = ", ".join(["sum(n)::BIGINT AS cohort_n", *(c for k in kpis for c in _folds(k))])
    q_cte, q_join = "", "SELECT * FROM c"
    if quantiles_sql and timed:
        q_cte = f", d AS (SELECT bucket, grp, {', '.join(_quantiles(k, quantiles_sql) for k in timed)} FROM x GROUP BY ALL)"
        q_join = ("SELECT c.*, d.* EXCLUDE (bucket, grp) FROM c LEFT JOIN d ON c.bucket IS NOT DISTINCT FROM "
                  "d.bucket AND c.grp IS NOT DISTINCT FROM d.grp")

    # NOT MATERIALIZED: x may be read twice (quantiles), and a million-row copy costs more than two scans.
    def body_sql(clause: str) -> str:
        return f"""WITH f AS NOT MATERIALIZED (SELECT *, {time_col} AS t FROM facts
          WHERE ({clause}) AND {time_col} >= $lo AND {time_col} < $end),
    x AS NOT MATERIALIZED (SELECT *, {_bucket(grain)} AS bucket, {split_sql(split)} AS grp FROM f),
    n AS (SELECT bucket, grp, cls_{cohort} AS cls, count(*) AS n{sums_sql} FROM x GROUP BY ALL),
    m AS (SELECT {decoded_sql} FROM n),
    c AS (SELECT bucket, grp, {folds_sql} FROM m GROUP BY ALL){q_cte}
    {q_join}"""
    lo = period.previous().start if grain == COMPARE else period.start
    cut = {"cut": period.start} if grain == COMPARE else {}
    df = facts.query(con, undated(filters), body_sql, {"lo": lo, "end": period.end, **cut}).df()
    if one_group and timed:
        q = facts.quantiles(con, [k.key for k in timed], undated(filters),
                            f"{time_col} >= $start AND {time_col} < $end",
                            {"start": period.start, "end": period.end})
        current = (df["bucket"] == "current") if grain == COMPARE else pd.Series(True, index=df.index)
        for key in q:
            df[f"{key}__q"] = pd.Series([q[key] if now else None for now in current], index=df.index,
                                        dtype=object)
    return df


def _bucket(grain: str | None) -> str:
    return "CASE WHEN t >= $cut THEN 'current' ELSE 'previous' END" if grain == COMPARE else \
        bucket_sql(grain)


def _sql_rows(df: pd.DataFrame, kpis: list[reg.Kpi], cohort_label: str) -> list[dict[str, Any]]:
    rows = []
    for rec in df.to_dict("records"):
        for k in kpis:
            n = int(rec.get(f"{k.key}__n") or 0)
            excluded = tuple((e.label, int(rec[f"{k.key}__x{i}"]))
                             for i, e in enumerate(k.exclusions, 1) if rec[f"{k.key}__x{i}"])
            row = {"bucket": rec["bucket"], "group": rec["grp"], "key": k.key, "n": n,
                   "excluded": excluded, "reason": None, "extra": {},
                   "mean": None, "median": None, "p90": None, "value": None}
            if k.kind == "count":
                row["value"] = float(rec["cohort_n"])
                row["n"] = int(rec["cohort_n"])
            elif n == 0:
                row["reason"] = _empty_reason(k, excluded, cohort_label)
            elif k.kind == "duration":
                q = rec.get(f"{k.key}__q")
                q = (None, None) if q is None or (isinstance(q, float) and np.isnan(q)) else q
                row.update(mean=_f(rec[f"{k.key}__mean"]), median=_f(q[0]), p90=_f(q[1]))
                row["value"] = row["mean"]
            else:
                row["value"] = 100.0 * int(rec[f"{k.key}__hits"]) / n
            rows.append(row)
    return rows


def _empty_reason(k: reg.Kpi, excluded: tuple[tuple[str, int], ...], cohort: str) -> str:
    if excluded:
        biggest = max(excluded, key=lambda e: e[1])
        return f"not measurable: all {sum(c for _, c in excluded):,} {cohort} were excluded " \
               f"(most: {biggest[1]:,} {biggest[0]}). {k.how_to_fix}"
    scope = f" ({k.scope_text})" if k.scope_text else ""
    return f"not measurable: no {cohort}{scope}."


def _day(v: Any) -> Any:
    """Buckets as datetime.date (SQL gives Timestamps, pandas periods give dates), else None."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v == "current":
        return None
    if isinstance(v, str):
        return v
    return pd.Timestamp(v).date()


def _f(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _backlog_rows(con, filters: Filters, period: Period, kpis: list[reg.Kpi], grain: str | None,
                  split: str | None) -> list[dict[str, Any]]:
    """Open backlog (analytics.kpi.backlog) and its median age at each bucket end (or the period
    end), capped at as_of."""
    ends = [(w[0], max(w[1], min(w[2], period.as_of))) for w in windows(period, grain)]
    df = backlog.counts(con, filters, [t for _, t in ends], split_sql(split))
    rows = []
    for rec in df.to_dict("records"):
        excluded = tuple((e.label, int(c)) for e, c in
                         zip(reg.BACKLOG_EXCLUSIONS, (rec["x1"], rec["x2"]), strict=True) if c)
        for k in kpis:
            value = float(rec["n"]) if k.kind == "backlog" else _f(rec["age"])
            rows.append({"bucket": ends[int(rec["bucket"])][0], "group": rec["grp"], "key": k.key,
                         "value": value, "n": int(rec["n"]), "excluded": excluded,
                         "reason": None if value is not None else "not measurable: no open tickets.",
                         "extra": {}, "mean": None, "median": None, "p90": None})
    return rows


def _cohort_rows(con, filters: Filters, period: Period, ks: list[reg.Kpi], cohort: str,
                 grain: str | None, split: str | None, stats: bool = True) -> list[dict[str, Any]]:
    label = f"tickets {'opened' if cohort == reg.OPENED else 'resolved'} in the period"
    return _sql_rows(_cohort_frame(con, filters, period, ks, cohort, grain, split, stats), ks, label)


# A part never calls frame() itself, so a part waiting on this pool cannot deadlock it.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kpi-part")


def frame(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period, *,
          keys: tuple[str, ...] | None = None, grain: str | None = None,
          split: str | None = None, outage: tuple[str, ...] | None = None,
          stats: bool = True) -> pd.DataFrame:
    """Long table of KPI values (columns FRAME_COLUMNS) for `period`, per bucket and group.
    `stats`: also the median and p90 of duration KPIs (False leaves them None)."""
    chosen = [reg.get(k) for k in keys] if keys is not None else list(reg.KPIS)
    outage = outage or reg.outage_severities(con)
    parts = [partial(_cohort_rows, con, filters, period, ks, cohort, grain, split, stats)
             for cohort in (reg.OPENED, reg.RESOLVED)
             if (ks := [k for k in chosen if k.cohort == cohort and k.kind in ("count", "duration", "rate")])]
    if ks := [k for k in chosen if k.kind in ("backlog", "backlog_age")]:
        parts.append(partial(_backlog_rows, con, filters, period, ks, grain, split))
    if ks := [k for k in chosen if k.kind in ("availability", "mtbf", "mtbsi")]:
        parts.append(partial(outage_rows, con, filters, period, ks, grain, split, outage))
    if ks := [k for k in chosen if k.kind == "sla"]:
        parts.append(partial(sla_rows, con, filters, period, ks, grain, split))
    # Independent queries, each on its own cursor: run them side by side (DuckDB and numpy
    # release the GIL), so a filter change waits for the slowest, not the sum. One pool for the
    # process: starting threads per call cost more than the small queries of a filter change.
    rows = [row for part in _POOL.map(lambda fn: fn(), parts) for row in part]
    df = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    # pandas 3 would store the text column as str with NaN for None: keep None.
    df["reason"] = pd.Series([r["reason"] for r in rows], index=df.index, dtype=object)
    df["bucket"] = pd.Series([_day(r["bucket"]) for r in rows], index=df.index, dtype=object)
    return df


def results(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None = None, *,
            keys: tuple[str, ...] | None = None, previous: bool = True) -> dict[str, KpiResult]:
    """Each KPI for the filtered period, with target, status and the previous period's value."""
    period = facts.period_of(con, filters, normalise_as_of(as_of))
    keys = keys or tuple(k.key for k in reg.KPIS)
    df = frame(con, filters, period, keys=keys, grain=COMPARE if previous else None)
    now = _by_key(df[df["bucket"].isna()])
    before = _by_key(df[df["bucket"] == "previous"])
    if previous and _no_tickets(con, filters, period.previous()):
        before = {}  # nothing happened then (e.g. before go-live): there is nothing to compare with
    targets = reg.targets(con)
    out = {}
    for key in keys:
        k = reg.get(key)
        row = now.get(key) or _nothing(k)
        prev = _f((before.get(key) or {}).get("value"))
        value = _f(row["value"])
        out[key] = KpiResult(
            key=key, value=value, n=int(row["n"]), unit=k.unit, target=targets[key],
            status=status_of(k, value, targets[key]), excluded=tuple(row["excluded"]),
            reason=row["reason"], previous=prev,
            change=None if value is None or prev is None else value - prev,
            stats={s: _f(row.get(s)) for s in ("mean", "median", "p90")},
            extra={**row["extra"], "period": period.label()})
    return out


def _no_tickets(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period) -> bool:
    clause, params = undated(filters).where()
    return not con.cursor().execute(
        f"SELECT 1 FROM tickets WHERE ({clause}) AND opened_at >= $start AND opened_at < $end LIMIT 1",
        {**params, "start": period.start, "end": period.end}).fetchall()


def _nothing(k: reg.Kpi) -> dict[str, Any]:
    """The row of a KPI whose cohort is empty: counts are 0, everything else not measurable."""
    if k.kind in ("count", "backlog"):
        return {"value": 0.0, "n": 0, "excluded": (), "extra": {}, "reason": None}
    return {"value": None, "n": 0, "excluded": (), "extra": {},
            "reason": f"not measurable: no tickets in the period. {k.how_to_fix}"}


def _by_key(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in df.to_dict("records")}
