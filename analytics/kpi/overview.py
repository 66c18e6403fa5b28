"""Overview metrics: volume, open backlog and its age, severity mix.

Every function takes the connection and the global `Filters` and returns plain values or
DataFrames; the definitions the UI shows next to each figure live in `DEFINITIONS`.
Timestamps in the store are naive UTC, so `as_of` is a naive UTC datetime as well
(analytics.store.periods' `utc_now` and `normalise_as_of`). The open backlog is
analytics.kpi.backlog's one definition, at the end of the filters' period (kpi.facts.period_of: the
data's span without a date filter), or the as-of time if earlier.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from analytics.kpi import backlog as open_backlog
from analytics.kpi import facts
from analytics.kpi.registry import BACKLOG_TEXT
from analytics.kpi.trends import hypercare_daily
from analytics.store.filters import UNMAPPED, Filters
from analytics.store.periods import Period, normalise_as_of, undated
from analytics.store.schema import SEVERITIES

# One definition per figure: start, end, statistic, cohort, exclusions. The page shows these.
DEFINITIONS: dict[str, str] = {
    "tickets": (
        "Tickets: number of distinct tickets opened in the filtered period (opened_at within "
        "the date filter, UTC days) that match the other filters. A re-uploaded ticket is "
        "counted once."
    ),
    "open_backlog": f"Open backlog: {BACKLOG_TEXT}",
    "sev12_open": (
        "SEV-1 + SEV-2 open: the open backlog restricted to severity SEV-1 or SEV-2. Tickets "
        "whose priority could not be mapped to a severity are not counted here."
    ),
    "ageing": (
        "Backlog ageing: the open backlog split by age = end of the period (or now) − opened_at. "
        "Each bucket includes its lower bound and excludes its upper bound (1–3 d means at least "
        "1 day and less than 3 days); >30 d includes exactly 30 days."
    ),
    "severity_mix": (
        "Severity mix: filtered tickets per severity, with the share of all filtered tickets. "
        "Tickets whose raw priority could not be mapped to SEV-1..SEV-4 are shown as Unmapped."
    ),
    "volume_by_day": (
        "Daily ticket volume: filtered tickets per UTC calendar day of opened_at, over every day of "
        "the period (the date filter's days, or the data's span), up to the data's last event and "
        "the as-of time; days without tickets show 0 and count in the average. Over more than "
        "120 days the chart sums the days per week, over more than 730 per month. Tickets "
        "without opened_at are left out."
    ),
    "weekly_by_severity": (
        "Weekly ticket volume: filtered tickets per ISO week (Monday–Sunday, UTC) of opened_at "
        "and severity; weeks without tickets show 0."
    ),
    "top_titles": (
        "Top titles: the 10 most frequent ticket titles among the filtered tickets, compared "
        "exactly (same text, same case); empty titles are left out."
    ),
    "open_major": "Open SEV-1/SEV-2 tickets: the open backlog's SEV-1 and SEV-2 tickets, oldest first.",
}

# (label, lower bound in days inclusive, upper bound exclusive or None)
AGE_BUCKETS: tuple[tuple[str, float, float | None], ...] = (
    ("<1 d", 0, 1),
    ("1–3 d", 1, 3),
    ("3–7 d", 3, 7),
    ("7–30 d", 7, 30),
    (">30 d", 30, None),
)
SEVERITY_ORDER: tuple[str, ...] = (*SEVERITIES, UNMAPPED)


def _filtered(filters: Filters) -> tuple[str, dict[str, Any]]:
    clause, params = filters.where()
    return f"WITH f AS (SELECT * FROM tickets WHERE {clause})", params


def backlog_end(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None = None) -> datetime:
    """The moment the Overview's open backlog is read at: the end of the filters' period, or
    the as-of time when that is earlier."""
    return facts.period_of(con, filters, normalise_as_of(as_of)).observed_end


def _days(period: Period) -> tuple[date, date]:
    """The first and last UTC day of the period that has been observed: up to its end, the
    as-of time and the data's last event, whichever is first."""
    last = min(period.end - timedelta(microseconds=1), period.as_of,
               period.data_end if period.data_end is not None else period.end)
    return period.start.date(), max(period.start, last).date()


def cube(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """The filtered tickets counted per (opened day, severity) with the first and last opened_at
    of each group (kind "opened": one scan for the summary, daily volume and severity mix),
    and the open backlog at `backlog_end` per (severity, age bucket) (kind "open", from the
    backlog's cached spans): everything the Overview's figures read after a filter change.

    Columns kind, day, severity, age_bucket, n, first_opened, last_opened, backlog_at, and
    first_day / last_day (the period's observed days, `_days`); `summary_from`, `volume_from`,
    `ageing_from` and `mix_from` read it."""
    as_of = normalise_as_of(as_of)
    period = facts.period_of(con, filters, as_of)
    te = period.observed_end
    first_day, last_day = _days(period)
    cte, params = _filtered(filters)
    opened = con.cursor().execute(
        f"""{cte}
        SELECT 'opened' AS kind, opened_at::DATE AS day, severity, NULL::VARCHAR AS age_bucket,
               count(*) AS n, min(opened_at) AS first_opened, max(opened_at) AS last_opened
        FROM f GROUP BY ALL""", params).df()
    cases, bucket_params = _age_cases()
    open_now = open_backlog.query_spans(con, undated(filters), lambda where: f"""
        WITH s AS (SELECT * FROM spans WHERE ({where}) AND {open_backlog.OPEN_AT_SQL}),
        a AS (SELECT severity, date_diff('second', opened_at, $te::TIMESTAMP) / 86400.0 AS age FROM s)
        SELECT 'open' AS kind, NULL::DATE AS day, severity, CASE {cases} END AS age_bucket, count(*) AS n,
               NULL::TIMESTAMP AS first_opened, NULL::TIMESTAMP AS last_opened
        FROM a GROUP BY ALL""", {"te": te, **bucket_params}).df()
    parts = [p for p in (opened, open_now) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else opened
    return out.assign(backlog_at=pd.Timestamp(te), first_day=first_day, last_day=last_day)


def _age_cases() -> tuple[str, dict[str, Any]]:
    """CASE branches (over `age` in days) naming each AGE_BUCKETS bucket, and their params."""
    cases: list[str] = []
    params: dict[str, Any] = {}
    for i, (label, lo, hi) in enumerate(AGE_BUCKETS):
        params.update({f"age_lo_{i}": lo, f"age_label_{i}": label})
        if hi is None:
            cases.append(f"WHEN age >= $age_lo_{i} THEN $age_label_{i}")
        else:
            cases.append(f"WHEN age >= $age_lo_{i} AND age < $age_hi_{i} THEN $age_label_{i}")
            params[f"age_hi_{i}"] = hi
    return " ".join(cases), params


def summary(con: duckdb.DuckDBPyConnection, filters: Filters,
            as_of: datetime | None = None) -> dict[str, Any]:
    """Headline numbers (see DEFINITIONS).

    Keys: tickets, open_backlog, sev12_open, unmapped (tickets without severity),
    no_opened_at, first_opened, last_opened (naive UTC or None), as_of.
    """
    return summary_from(cube(con, filters, as_of), normalise_as_of(as_of))


def summary_from(c: pd.DataFrame, as_of: datetime) -> dict[str, Any]:
    """`summary` from the cube made at `as_of`."""
    opened, open_now = c[c["kind"] == "opened"], c[c["kind"] == "open"]
    first, last = opened["first_opened"].min(), opened["last_opened"].max()
    at = c["backlog_at"].max() if len(c) else None
    return {
        "tickets": int(opened["n"].sum()),
        "open_backlog": int(open_now["n"].sum()),
        "sev12_open": int(open_now.loc[open_now["severity"].isin(["SEV-1", "SEV-2"]), "n"].sum()),
        "unmapped": int(opened.loc[opened["severity"].isna(), "n"].sum()),
        "no_opened_at": int(opened.loc[opened["day"].isna(), "n"].sum()),
        "first_opened": None if pd.isna(first) else pd.Timestamp(first).to_pydatetime(),
        "last_opened": None if pd.isna(last) else pd.Timestamp(last).to_pydatetime(),
        "as_of": as_of,
        "backlog_at": as_of if at is None or pd.isna(at) else pd.Timestamp(at).to_pydatetime(),
    }


def figure_captions(summary_: dict[str, Any]) -> dict[str, str]:
    """The caption under each Overview figure: its definition plus n and exclusions.

    `summary_` is the dict `summary()` returns; keys: tickets, open_backlog, sev12_open,
    volume_by_day, ageing, severity_mix.
    """
    n = summary_["tickets"]
    open_n = summary_["open_backlog"]
    as_of = f"{summary_.get('backlog_at', summary_['as_of']):%Y-%m-%d %H:%M} UTC"
    unmapped = summary_["unmapped"]
    no_opened = summary_["no_opened_at"]
    volume = f"{DEFINITIONS['volume_by_day']} n = {n - no_opened:,}."
    if no_opened:
        volume += f" {no_opened:,} without opened_at are not shown."
    mix = f"{DEFINITIONS['severity_mix']} n = {n:,}"
    mix += (f"; {unmapped:,} without a severity are shown as Unmapped." if unmapped
            else "; every ticket has a severity.")
    return {
        "tickets": f"{DEFINITIONS['tickets']} n = {n:,}.",
        "open_backlog": f"{DEFINITIONS['open_backlog']} At {as_of}; n = {open_n:,}.",
        "sev12_open": f"{DEFINITIONS['sev12_open']} At {as_of}; n = {summary_['sev12_open']:,}.",
        "volume_by_day": volume,
        "ageing": f"{DEFINITIONS['ageing']} At {as_of}; n = {open_n:,} open tickets.",
        "severity_mix": mix,
    }


def volume_by_day(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """Columns day (date), tickets (int): one row per day of the period (see DEFINITIONS)."""
    return volume_from(cube(con, filters, as_of))


def volume_from(c: pd.DataFrame) -> pd.DataFrame:
    """`volume_by_day` from the cube: every day from the period's first to its last observed
    day (and any day with a ticket outside them), zeros included; empty without a dated ticket."""
    dated = c[(c["kind"] == "opened") & c["day"].notna()]
    if dated.empty:
        return _typed(pd.DataFrame({"day": [], "tickets": []}), {"tickets": "int64"}, date_cols=("day",))
    per_day = dated.groupby(pd.to_datetime(dated["day"]))["n"].sum()
    first, last = per_day.index.min(), per_day.index.max()
    if "first_day" in c:  # a month whose last days have no ticket still has them (average per day)
        first = min(first, pd.Timestamp(c["first_day"].iloc[0]))
        last = max(last, pd.Timestamp(c["last_day"].iloc[0]))
    days = pd.date_range(first, last, freq="D")
    out = pd.DataFrame({"day": days, "tickets": per_day.reindex(days, fill_value=0).to_numpy()})
    return _typed(out, {"tickets": "int64"}, date_cols=("day",))


def hypercare_from(volume: pd.DataFrame, go_live: date, window_days: int) -> pd.DataFrame:
    """kpi.trends.hypercare_daily of the daily volume, its phase by the engagement's hypercare
    window (engagements.details(...).window_days) instead of a fixed 14 days."""
    return hypercare_daily(volume, go_live, window_days)


def backlog(con: duckdb.DuckDBPyConnection, filters: Filters,
            as_of: datetime | None = None, limit: int | None = None) -> pd.DataFrame:
    """The open backlog at `backlog_end`, one row per ticket, most severe then oldest first (the
    first `limit`).

    Columns: ticket_id, severity ("Unmapped" when NULL), title, service, team, status (today's),
    opened_at, age_days (float, backlog_end − opened_at).
    """
    return _backlog_at(con, filters, backlog_end(con, filters, as_of), limit)


def _backlog_at(con: duckdb.DuckDBPyConnection, filters: Filters, te: datetime, limit: int | None = None
                ) -> pd.DataFrame:
    df = open_backlog.open_frame(con, filters, te, limit)
    df["severity"] = df["severity"].astype(object).where(df["severity"].notna(), UNMAPPED)
    return _typed(df, {"age_days": "float64"})


def backlog_ageing(con: duckdb.DuckDBPyConnection, filters: Filters,
                   as_of: datetime | None = None) -> pd.DataFrame:
    """Columns bucket, tickets: the open backlog per age bucket (all five, zeros included)."""
    return ageing_from(cube(con, filters, as_of))


def ageing_from(c: pd.DataFrame) -> pd.DataFrame:
    """`backlog_ageing` from the cube."""
    open_now = c[c["kind"] == "open"]
    counts = open_now.groupby("age_bucket")["n"].sum().to_dict()
    return pd.DataFrame(
        {"bucket": [b[0] for b in AGE_BUCKETS],
         "tickets": [int(counts.get(b[0], 0)) for b in AGE_BUCKETS]}
    )


def severity_mix(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Columns severity, tickets, percent: SEV-1..SEV-4 then Unmapped, zeros included.

    percent is the share of all filtered tickets (0 when there are none); a severity value
    outside SEV-1..SEV-4 (should not happen) gets its own row after SEV-4.
    """
    return mix_from(cube(con, filters))


def mix_from(c: pd.DataFrame) -> pd.DataFrame:
    """`severity_mix` from the cube."""
    c = c[c["kind"] == "opened"]
    named = c["severity"].astype(object).where(c["severity"].notna(), UNMAPPED)
    counts = {k: int(v) for k, v in c["n"].groupby(named).sum().items()}
    order = [*SEVERITIES, *sorted(set(counts) - set(SEVERITY_ORDER)), UNMAPPED]
    total = sum(counts.values())
    data = [(s, int(counts.get(s, 0))) for s in order]
    return pd.DataFrame(
        {"severity": [s for s, _ in data],
         "tickets": [n for _, n in data],
         "percent": [round(100.0 * n / total, 1) if total else 0.0 for _, n in data]}
    )


def weekly_volume_by_severity(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Columns week (Monday, date), severity, tickets: every week × severity, zeros included."""
    cte, params = _filtered(filters)
    df = con.cursor().execute(
        f"""{cte},
        g AS (SELECT date_trunc('week', opened_at)::DATE AS week,
                     coalesce(severity, $unmapped) AS severity, count(*) AS n
              FROM f WHERE opened_at IS NOT NULL GROUP BY 1, 2),
        weeks AS (SELECT unnest(generate_series(min(week), max(week), INTERVAL 7 DAY))::DATE
                         AS week FROM g)
        SELECT weeks.week, s.severity, coalesce(g.n, 0)::BIGINT AS tickets
        FROM weeks CROSS JOIN (SELECT DISTINCT severity FROM g) s
        LEFT JOIN g ON g.week = weeks.week AND g.severity = s.severity""",
        {**params, "unmapped": UNMAPPED},
    ).df()
    rank = df["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(99)
    df = df.assign(_rank=rank).sort_values(["week", "_rank", "severity"])
    df = df.drop(columns="_rank").reset_index(drop=True)
    return _typed(df, {"tickets": "int64"}, date_cols=("week",))


def top_titles(con: duckdb.DuckDBPyConnection, filters: Filters, limit: int = 10) -> pd.DataFrame:
    """Columns title, tickets, first_opened, last_opened: most frequent titles first."""
    cte, params = _filtered(filters)
    df = con.cursor().execute(
        f"""{cte}
        SELECT title, count(*) AS tickets, min(opened_at) AS first_opened,
               max(opened_at) AS last_opened
        FROM f WHERE title IS NOT NULL AND trim(title) <> ''
        GROUP BY title ORDER BY tickets DESC, title LIMIT $limit""",
        {**params, "limit": int(limit)},
    ).df()
    return _typed(df, {"tickets": "int64"})


def open_major_tickets(con: duckdb.DuckDBPyConnection, filters: Filters,
                       as_of: datetime | None = None) -> pd.DataFrame:
    """The open backlog's SEV-1/SEV-2 tickets at `backlog_end`, oldest first.

    Columns: ticket_id, severity, title, service, team, status, opened_at.
    """
    major = tuple(s for s in ("SEV-1", "SEV-2") if not filters.severity or s in filters.severity)
    te = backlog_end(con, filters, as_of)
    rows = _backlog_at(con, filters.with_values(severity=major or ("none",)), te)
    cols = ["ticket_id", "severity", "title", "service", "team", "status", "opened_at"]
    return rows.sort_values(["opened_at", "ticket_id"])[cols].reset_index(drop=True)


def _typed(df: pd.DataFrame, ints: dict[str, str], date_cols: tuple[str, ...] = ()) -> pd.DataFrame:
    """Stable dtypes whether or not the result is empty."""
    for col, dtype in ints.items():
        df[col] = df[col].astype(dtype)
    for col in date_cols:
        df[col] = pd.to_datetime(df[col]).dt.date if len(df) else pd.Series([], dtype=object)
    return df
