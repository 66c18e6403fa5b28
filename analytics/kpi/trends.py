"""KPI trends: XmR control limits, the trend table, the CLI's table and the hypercare view.

Periods, grains and splits are analytics.store.periods', the default period kpi.facts.period_of.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from analytics.kpi import kpis
from analytics.kpi import registry as reg
from analytics.kpi.facts import period_of
from analytics.store.filters import Filters
from analytics.store.periods import ALL, buckets, next_bucket, normalise_as_of

XMR_FACTOR = 2.66  # 3 / d2 with d2 = 1.128 for moving ranges of two points


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
    as_of = normalise_as_of(as_of)
    period = period_of(con, filters, as_of)
    outage = outage or reg.outage_severities(con)
    with ThreadPoolExecutor(max_workers=2) as pool:  # both periods side by side
        cur, prev = pool.map(lambda p: kpis.frame(con, filters, p, keys=(key,), grain=grain,
                                                  split=split, outage=outage, stats=False),
                             (period, period.previous()))
    spans = buckets(period, grain)
    days = [b[0] for b in spans]
    partial = {b[0]: b[2] - b[1] < next_bucket(b[0], grain) - pd.Timestamp(b[0]) for b in spans}
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
        limits = xmr(part["value"].where(~part["partial"].astype(bool)), *_possible(reg.get(key).unit))
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
        get = lambda key, col="value": _num((rows.get(key) or {}).get(col))  # noqa: E731, B023 - used at once
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
