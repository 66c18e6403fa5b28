"""KPI periods, grains, splits, the previous period, XmR control limits and the trend table.

A period is a half-open UTC interval [start, end). Without a date filter it spans the data: from
the day of the first to the day after the last event of any kind (opened, impact start,
detection, acknowledgement, mitigation, resolution, closure, status change) of the filtered
tickets, capped at the as-of time; `period_of` is the one place that chooses it (pages, CLI,
closure criteria, report). The previous period is the interval of the same length just before it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from . import kpi_facts
from .filters import UNMAPPED, Filters

GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter")
SPLITS: tuple[str, ...] = ("none", "severity", "service", "team")
ALL = "All"
# Split -> SQL expression for the group column (code, never user input).
_SPLIT_SQL = {
    "none": f"'{ALL}'",
    "severity": f"coalesce(severity, '{UNMAPPED}')",
    "service": "coalesce(service, '(no service)')",
    "team": "coalesce(team, '(no team)')",
}
XMR_FACTOR = 2.66  # 3 / d2 with d2 = 1.128 for moving ranges of two points


@dataclass(frozen=True)
class Period:
    """[start, end) in naive UTC; `as_of` is when open clocks stop; `data_end` the last event of
    the filtered tickets (None: not known, no limit)."""

    start: datetime
    end: datetime
    as_of: datetime
    data_end: datetime | None = None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def observed_end(self) -> datetime:
        """The end, or the as-of time when that is earlier (the future has no uptime yet)."""
        return max(self.start, min(self.end, self.as_of))

    @property
    def uptime_end(self) -> datetime:
        """The observed end, or the end of the data when that is earlier (availability counts
        neither uptime nor downtime past the data)."""
        data_end = self.data_end if self.data_end is not None else self.end
        return max(self.start, min(self.end, self.as_of, data_end))

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start, self.as_of, self.data_end)

    def label(self) -> str:
        last = self.end - timedelta(microseconds=1)
        return f"{self.start:%Y-%m-%d} – {last:%Y-%m-%d}"


def split_sql(split: str | None) -> str:
    """SQL expression naming each row's group for `split` (none/severity/service/team)."""
    if (split or "none") not in _SPLIT_SQL:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return _SPLIT_SQL[split or "none"]


def bucket_sql(grain: str | None, column: str = "t") -> str:
    """SQL expression for the bucket (first day) of `column` at `grain`; NULL for no grain."""
    if grain is None:
        return "CAST(NULL AS DATE)"
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}: choose one of {', '.join(GRAINS)}")
    return f"date_trunc('{grain}', {column})::DATE"


def undated(filters: Filters) -> Filters:
    return filters.with_values(date_from=None, date_to=None)


def period_of(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> Period:
    """The period the filters select (see the module docstring)."""
    start = datetime.combine(filters.date_from, time.min) if filters.date_from else None
    end = (datetime.combine(filters.date_to + timedelta(days=1), time.min)
           if filters.date_to else None)
    first, last = kpi_facts.data_span(con, filters)
    if start is None:
        start = datetime.combine(first.date(), time.min) if first else (end or as_of) - timedelta(days=1)
    if end is None:
        end = datetime.combine(last.date() + timedelta(days=1), time.min) if last else max(as_of, start)
        end = max(min(end, as_of), start + timedelta(days=1))
    if end <= start:
        end = start + timedelta(days=1)
    return Period(start, end, as_of, last)


COMPARE = "compare"  # the grain of two buckets: "current" (the period) and "previous" (the one before)


def windows(period: Period, grain: str | None) -> list[tuple[Any, datetime, datetime]]:
    """(bucket label, start, end) of each window a KPI is computed for."""
    if grain == COMPARE:
        prev = period.previous()
        return [("current", period.start, period.end), ("previous", prev.start, prev.end)]
    return [(b[0], b[1], b[2]) for b in buckets(period, grain)] if grain else \
        [(None, period.start, period.end)]


def buckets(period: Period, grain: str) -> list[tuple[date, datetime, datetime]]:
    """(bucket day, start, end) of every `grain` bucket overlapping the period, clipped to it."""
    out = []
    cur = pd.Timestamp(period.start).to_period(_PANDAS_GRAIN[grain]).start_time.to_pydatetime()
    while cur < period.end:
        nxt = (pd.Timestamp(cur) + _OFFSET[grain]).to_pydatetime()
        out.append((cur.date(), max(cur, period.start), min(nxt, period.end)))
        cur = nxt
    return out


_PANDAS_GRAIN = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}
_OFFSET = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1),
           "month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3)}


# --- XmR (individuals and moving range) control chart -----------------------------------


def xmr(values: pd.Series, low: float | None = None, high: float | None = None) -> pd.DataFrame:
    """Columns value, mean, moving_range, ucl, lcl, special_cause.

    Centre line = mean of the points; limits = mean ± 2.66 × mean moving range (|x_i − x_i−1|
    of consecutive non-missing points); a point outside the limits is a special cause. Fewer
    than two points: no limits. `low`/`high`: the values the KPI can take (0 for a duration,
    100 for a %): a limit beyond them is clipped to them, which changes no special cause.
    """
    v = pd.to_numeric(values, errors="coerce").astype("float64").reset_index(drop=True)
    present = v.dropna()
    mr = present.diff().abs()
    mean = present.mean() if len(present) else np.nan
    mr_bar = mr.mean() if len(present) >= 2 else np.nan
    ucl = mean + XMR_FACTOR * mr_bar
    lcl = mean - XMR_FACTOR * mr_bar
    if high is not None and not np.isnan(ucl):
        ucl = min(ucl, high)
    if low is not None and not np.isnan(lcl):
        lcl = max(lcl, low)
    out = pd.DataFrame({"value": v, "mean": mean, "ucl": ucl, "lcl": lcl})
    out["moving_range"] = mr.reindex(v.index)
    out["special_cause"] = (v > ucl) | (v < lcl)
    out["special_cause"] = out["special_cause"].fillna(False).astype(bool)
    return out


def trend(con: duckdb.DuckDBPyConnection, filters: Filters, key: str, grain: str,
          split: str | None = None, as_of: datetime | None = None,
          outage: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One KPI per bucket (and group), with XmR limits per group and the previous period.

    Columns: bucket (date), group, value, n, previous (value of the bucket one period
    earlier, aligned by position), mean, ucl, lcl, special_cause, reason, partial (the period
    cuts the bucket short: its first or last; left out of the XmR limits and never a special
    cause, since a part-week is not comparable with whole weeks).
    """
    from . import kpi_registry, kpis  # kpis imports this module's period helpers

    from .overview import normalise_as_of

    as_of = normalise_as_of(as_of)
    period = period_of(con, filters, as_of)
    outage = outage or kpi_registry.outage_severities(con)
    with ThreadPoolExecutor(max_workers=2) as pool:  # both periods side by side
        cur, prev = pool.map(lambda p: kpis.frame(con, filters, p, keys=(key,), grain=grain,
                                                  split=split, outage=outage, stats=False),
                             (period, period.previous()))
    spans = buckets(period, grain)
    days = [b[0] for b in spans]
    partial = {b[0]: b[2] - b[1] < (pd.Timestamp(b[0]) + _OFFSET[grain]).to_pydatetime() - pd.Timestamp(b[0])
               for b in spans}
    prev_days = [b[0] for b in buckets(period.previous(), grain)]
    groups = sorted(set(cur["group"])) or [ALL]
    rows: list[dict[str, Any]] = []
    for g in groups:
        c = cur[cur["group"] == g].set_index("bucket")
        p = prev[prev["group"] == g].set_index("bucket")
        shift = len(prev_days) - len(days)
        for i, day in enumerate(days):
            j = i + shift
            pday = prev_days[j] if 0 <= j < len(prev_days) else None
            rows.append({
                "bucket": day, "group": g,
                "value": c["value"].get(day, np.nan), "n": int(c["n"].get(day, 0)),
                "previous": p["value"].get(pday, np.nan) if pday is not None else np.nan,
                "reason": c["reason"].get(day) if day in c.index else "no tickets in this bucket",
                "partial": partial[day],
            })
    out = pd.DataFrame(rows, columns=["bucket", "group", "value", "n", "previous", "reason", "partial"])
    parts = []
    for _, part in out.groupby("group", sort=False):
        limits = xmr(part["value"].where(~part["partial"].astype(bool)), *_possible(kpi_registry.get(key).unit))
        parts.append(part.reset_index(drop=True).join(
            limits[["mean", "ucl", "lcl", "special_cause"]]))
    result = pd.concat(parts, ignore_index=True) if parts else out.assign(
        mean=np.nan, ucl=np.nan, lcl=np.nan, special_cause=False)
    result["partial"] = result["partial"].astype(bool)
    for col in ("value", "previous", "mean", "ucl", "lcl"):
        result[col] = result[col].astype("float64")
    return result


def _possible(unit: str) -> tuple[float, float | None]:
    """The values a KPI in `unit` can take: 0–100 for a %, else from 0 up (durations, counts)."""
    return (0.0, 100.0) if unit == "%" else (0.0, None)


# --- the CLI's table: one object per group ------------------------------------------------

BY_CHOICES: tuple[str, ...] = ("severity", "service", "team", "month", "week")


def cli_table(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None = None,
              by: str | None = None) -> list[dict[str, Any]]:
    """One dict per group (or one for everything): the CLI fields, null where not computable.

    `excluded` maps each KPI to its exclusions ({label: count}) and, when it has no value,
    its reason.
    """
    from . import kpi_registry as reg
    from . import kpis
    from .overview import normalise_as_of

    if by is not None and by not in BY_CHOICES:
        raise ValueError(f"unknown --by {by!r}: choose one of {', '.join(BY_CHOICES)}")
    period = period_of(con, filters, normalise_as_of(as_of))
    grain = by if by in ("month", "week") else None
    split = by if by in ("severity", "service", "team") else None
    keys = ("tickets", "open_backlog", "mtta", "mttr", "mttd", "mtbf", "availability",
            "response_sla", "resolution_sla", "reopen_rate")
    df = kpis.frame(con, filters, period, keys=keys, grain=grain, split=split)
    groups = sorted({_group_label(r, grain) for r in df.to_dict("records")}) or [ALL]
    out = []
    for g in groups:
        rows = {r["key"]: r for r in df.to_dict("records") if _group_label(r, grain) == g}
        obj: dict[str, Any] = {"group": g}
        get = lambda key, col="value": _num((rows.get(key) or {}).get(col))  # noqa: E731
        obj.update(tickets=int(get("tickets") or 0), open=int(get("open_backlog") or 0),
                   mtta_median_minutes=get("mtta", "median"), mtta_mean_minutes=get("mtta", "mean"),
                   mttr_median_hours=get("mttr", "median"), mttr_mean_hours=get("mttr", "mean"),
                   mttr_p90_hours=get("mttr", "p90"), mttd_median_minutes=get("mttd", "median"),
                   mtbf_hours=get("mtbf"), availability_pct=get("availability"),
                   response_sla_met_pct=get("response_sla"),
                   resolution_sla_met_pct=get("resolution_sla"), reopen_rate_pct=get("reopen_rate"))
        excluded: dict[str, Any] = {}
        for key in keys:
            row = rows.get(key)
            info: dict[str, Any] = dict(row["excluded"]) if row else {}
            reason = row["reason"] if row else f"no tickets in this group. {reg.get(key).how_to_fix}"
            if reason and key not in ("tickets", "open_backlog"):
                info["reason"] = reason
            if info:
                excluded[key] = info
        obj["excluded"] = excluded
        out.append(obj)
    return out


def _group_label(row: dict[str, Any], grain: str | None) -> str:
    if grain:
        b = row["bucket"]
        return "" if b is None or (isinstance(b, float) and np.isnan(b)) else str(b)[:10]
    return str(row["group"])


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else round(f, 4)


# --- hypercare view -----------------------------------------------------------------------

HYPERCARE_DAYS = 14
ROLLING_DAYS = 7


def hypercare_daily(daily: pd.DataFrame, go_live: date, window_days: int = HYPERCARE_DAYS) -> pd.DataFrame:
    """Daily tickets from go-live on, from the daily volume (overview.volume_by_day / volume_from,
    which the Overview already holds). Columns day, tickets, rolling_mean (7-day trailing mean
    over the days shown, fewer at the start), phase ("hypercare" for the first `window_days`
    days — the engagement's window —, then "after"). Days run to the volume's last day: a day
    the data has not reached is not a day without tickets."""
    if daily.empty:
        return pd.DataFrame(columns=["day", "tickets", "rolling_mean", "phase"])
    last = daily["day"].max()
    days = pd.DataFrame({"day": [go_live + timedelta(days=i) for i in range(max(0, (last - go_live).days) + 1)]})
    out = days.merge(daily, on="day", how="left").fillna({"tickets": 0})
    out["tickets"] = out["tickets"].astype("int64")
    out["rolling_mean"] = out["tickets"].rolling(ROLLING_DAYS, min_periods=1).mean()
    out["phase"] = np.where(
        pd.Series([(d - go_live).days for d in out["day"]]) < int(window_days), "hypercare", "after")
    return out
