"""Periods, grains, splits and the as-of time: the windows every KPI and SLA figure is counted over.

A period is a half-open UTC interval [start, end). Without a date filter it spans the data: from
the day of the first to the day after the last event of any kind (opened, impact start,
detection, acknowledgement, mitigation, resolution, closure, status change) of the filtered
tickets, capped at the as-of time; kpi.facts.period_of is the one place that chooses it (pages,
CLI, closure criteria, report). The previous period is the interval of the same length just
before it. Timestamps in the store are naive UTC, so the as-of time is a naive UTC datetime too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from analytics.store.filters import UNMAPPED, Filters

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
COMPARE = "compare"  # the grain of two buckets: "current" (the period) and "previous" (the one before)


def utc_now() -> datetime:
    """Now, as a naive UTC datetime like the stored timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def normalise_as_of(as_of: datetime | None) -> datetime:
    """None -> now; an aware datetime -> its naive UTC equivalent."""
    if as_of is None:
        return utc_now()
    if as_of.tzinfo is not None:
        return as_of.astimezone(UTC).replace(tzinfo=None)
    return as_of


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
        nxt = next_bucket(cur, grain)
        out.append((cur.date(), max(cur, period.start), min(nxt, period.end)))
        cur = nxt
    return out


def next_bucket(start: date | datetime, grain: str) -> datetime:
    """The start of the `grain` bucket after the one starting at `start`."""
    return (pd.Timestamp(start) + _OFFSET[grain]).to_pydatetime()


_PANDAS_GRAIN = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}
_OFFSET = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1),
           "month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3)}
