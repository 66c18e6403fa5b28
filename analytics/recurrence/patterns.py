"""Where and when tickets pile up: Paretos, a weekday × hour heatmap, repeat-offender services,
root causes and reopen hotspots. Each function takes the connection and the global `Filters`."""

from __future__ import annotations

import zoneinfo
from typing import Any

import duckdb
import pandas as pd

from analytics.store import db
from analytics.store.filters import Filters

NONE_LABEL = "(none)"
NOT_RECORDED = "(not recorded)"
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Dimension name -> tickets column. The only column names these queries are built from.
DIMENSIONS: dict[str, str] = {"service": "service", "category": "category", "component": "component"}
MEASURES: tuple[str, ...] = ("tickets", "downtime_hours")
# Impact window of one ticket in hours (the same definition as a recurrence cluster's downtime).
_DOWNTIME_SQL = ("greatest(date_diff('second', impact_started_at, "
                 "coalesce(mitigated_at, resolved_at)), 0) / 3600.0")

DEFINITIONS: dict[str, str] = {
    "pareto": (
        "Pareto: filtered tickets (or their downtime) per value, largest first, with the cumulative "
        "share of the total. Downtime = sum of impact windows (impact start to mitigated, else "
        "resolved); tickets without an impact start or an end add no downtime. Empty values show as "
        "(none)."
    ),
    "heatmap": (
        "Weekday × hour: filtered tickets by the local weekday and hour of opened_at in the chosen "
        "time zone (default: the default_timezone setting, else UTC). Tickets without opened_at "
        "are left out."
    ),
    "offenders": (
        "Repeat offenders: filtered tickets per ISO week (Monday, UTC) of opened_at for the top N "
        "services by ticket count; weeks without tickets show 0."
    ),
    "root_causes": (
        "Root cause / closure code: filtered tickets per recorded root cause, with the share of all "
        "filtered tickets; tickets without one are shown as (not recorded)."
    ),
    "reopens": (
        "Reopen hotspots: per service (or category), filtered tickets, tickets reopened at least "
        "once (reopen_count > 0), reopen rate = reopened / tickets, and total reopens. Tickets "
        "without a reopen count count as not reopened."
    ),
}


def _cte(filters: Filters) -> tuple[str, dict[str, Any]]:
    clause, params = filters.where()
    return f"WITH f AS (SELECT * FROM tickets WHERE {clause})", params


def _column(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}; choose one of {', '.join(DIMENSIONS)}.")
    return DIMENSIONS[dimension]


def pareto(con: duckdb.DuckDBPyConnection, filters: Filters, dimension: str = "service",
           measure: str = "tickets") -> pd.DataFrame:
    """Columns value, tickets, downtime_hours, share (% of the measure), cumulative_percent.

    Sorted by `measure` (tickets or downtime_hours) descending, then value.
    """
    column = _column(dimension)
    if measure not in MEASURES:
        raise ValueError(f"Unknown measure {measure!r}; choose tickets or downtime_hours.")
    cte, params = _cte(filters)
    df = con.cursor().execute(
        f"""{cte}
        SELECT coalesce(nullif(trim({column}), ''), $none) AS value, count(*) AS tickets,
               coalesce(sum({_DOWNTIME_SQL}), 0) AS downtime_hours
        FROM f GROUP BY 1""",
        {**params, "none": NONE_LABEL},
    ).df()
    df["tickets"] = df["tickets"].astype("int64")
    df["downtime_hours"] = df["downtime_hours"].astype("float64")
    df = df.sort_values([measure, "value"], ascending=[False, True], ignore_index=True)
    total = float(df[measure].sum())
    df["share"] = (100.0 * df[measure] / total) if total else 0.0
    df["cumulative_percent"] = df["share"].cumsum() if total else 0.0
    df["share"] = df["share"].astype("float64").round(2)
    df["cumulative_percent"] = df["cumulative_percent"].astype("float64").round(2)
    return df


def heatmap_timezone(con: duckdb.DuckDBPyConnection) -> str:
    """The setting "default_timezone", else UTC."""
    return db.get_setting(con, "default_timezone", "UTC") or "UTC"


def weekday_hour(con: duckdb.DuckDBPyConnection, filters: Filters, tz: str | None = None) -> pd.DataFrame:
    """Columns weekday (0 = Monday), weekday_name, hour (0–23), tickets: all 168 cells."""
    tz = tz or heatmap_timezone(con)
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown time zone {tz!r}.") from exc
    cte, params = _cte(filters)
    rows = con.cursor().execute(
        f"""{cte},
        l AS (SELECT timezone($tz, opened_at::TIMESTAMPTZ) AS t FROM f WHERE opened_at IS NOT NULL)
        SELECT isodow(t) - 1, hour(t), count(*) FROM l GROUP BY 1, 2""",
        {**params, "tz": tz},
    ).fetchall()
    counts = {(int(d), int(h)): int(n) for d, h, n in rows}
    grid = [(d, WEEKDAYS[d], h, counts.get((d, h), 0)) for d in range(7) for h in range(24)]
    df = pd.DataFrame(grid, columns=["weekday", "weekday_name", "hour", "tickets"])
    return df.astype({"weekday": "int64", "hour": "int64", "tickets": "int64"})


def repeat_offenders(con: duckdb.DuckDBPyConnection, filters: Filters, top_n: int = 5) -> pd.DataFrame:
    """Columns week (Monday, date), service, tickets: top `top_n` services, every week, zeros in."""
    cte, params = _cte(filters)
    df = con.cursor().execute(
        f"""{cte},
        top AS (SELECT coalesce(nullif(trim(service), ''), $none) AS service, count(*) AS n FROM f
                GROUP BY 1 ORDER BY n DESC, service LIMIT $top_n),
        g AS (SELECT date_trunc('week', opened_at)::DATE AS week,
                     coalesce(nullif(trim(service), ''), $none) AS service, count(*) AS n
              FROM f WHERE opened_at IS NOT NULL GROUP BY 1, 2),
        weeks AS (SELECT unnest(generate_series(min(week), max(week), INTERVAL 7 DAY))::DATE AS week
                  FROM g)
        SELECT weeks.week, top.service, coalesce(g.n, 0)::BIGINT AS tickets, top.n AS total
        FROM weeks CROSS JOIN top LEFT JOIN g ON g.week = weeks.week AND g.service = top.service
        ORDER BY total DESC, top.service, weeks.week""",
        {**params, "none": NONE_LABEL, "top_n": int(top_n)},
    ).df()
    df = df.drop(columns="total")
    df["tickets"] = df["tickets"].astype("int64")
    df["week"] = pd.to_datetime(df["week"]).dt.date if len(df) else pd.Series([], dtype=object)
    return df.reset_index(drop=True)


def root_causes(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Columns root_cause, tickets, percent: most frequent first, (not recorded) included."""
    cte, params = _cte(filters)
    df = con.cursor().execute(
        f"""{cte}
        SELECT coalesce(nullif(trim(root_cause), ''), $not_recorded) AS root_cause, count(*) AS tickets
        FROM f GROUP BY 1 ORDER BY tickets DESC, root_cause""",
        {**params, "not_recorded": NOT_RECORDED},
    ).df()
    df["tickets"] = df["tickets"].astype("int64")
    total = int(df["tickets"].sum())
    df["percent"] = (100.0 * df["tickets"] / total).round(1) if total else 0.0
    df["percent"] = df["percent"].astype("float64")
    return df


def reopen_hotspots(con: duckdb.DuckDBPyConnection, filters: Filters, dimension: str = "service",
                    limit: int = 15) -> pd.DataFrame:
    """Columns value, tickets, reopened, reopen_rate (0–1), reopens: most reopened first."""
    column = _column(dimension)
    cte, params = _cte(filters)
    df = con.cursor().execute(
        f"""{cte}
        SELECT coalesce(nullif(trim({column}), ''), $none) AS value, count(*) AS tickets,
               count(*) FILTER (WHERE reopen_count > 0) AS reopened,
               coalesce(sum(reopen_count), 0) AS reopens
        FROM f GROUP BY 1""",
        {**params, "none": NONE_LABEL},
    ).df()
    for col in ("tickets", "reopened", "reopens"):
        df[col] = df[col].astype("int64")
    df["reopen_rate"] = (df["reopened"] / df["tickets"]).astype("float64")
    df = df[df["reopened"] > 0].sort_values(["reopened", "reopen_rate", "value"],
                                             ascending=[False, False, True])
    return df[["value", "tickets", "reopened", "reopen_rate", "reopens"]].head(int(limit)).reset_index(drop=True)
