"""Business-time arithmetic: a calendar's working intervals in UTC and F(t), its running total.

F(t) = working time from the start of the table to instant t. Elapsed business time between a
and b is F(b) − F(a); a deadline "N working minutes after a" is F⁻¹(F(a) + N). Both are one
`np.searchsorted` over a few thousand intervals, so a million tickets cost milliseconds.

Units: instants and durations are float64 **microseconds** since the Unix epoch (naive UTC, as
the store keeps them). Every value is a whole number of µs below 2**53, so sums and differences
are exact; NaN means "no time". Callers report minutes as floats (µs / 60e6).

Time zones: an instant u is working time when its local wall-clock reading falls inside one of
the day's spans on a working day. On a DST day the reading jumps: a span converts to up to two
UTC pieces, one per UTC offset on either side of the transition, so 09:00–17:00 stays 8 h, a
00:00–24:00 span is 23 or 25 h, and a span over the skipped hour loses it (readings in the gap
never happen) while one over the repeated hour counts it twice over (both passes happen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from analytics.ingest.transform import qident
from analytics.sla.calendar import Calendar

US_PER_MIN = 60_000_000.0
US_PER_DAY = 86_400_000_000
_BEFORE, _AFTER = 15 * 3_600_000_000, 37 * 3_600_000_000  # UTC window around a local day (offsets −12..+14 h)


def to_us(values) -> np.ndarray:
    """datetime-likes (naive = UTC) → float64 µs since the epoch; missing → NaN."""
    arr = np.atleast_1d(np.asarray(values, dtype=object))
    idx = pd.DatetimeIndex(pd.to_datetime(arr, utc=True))
    out = idx.tz_convert(None).as_unit("us").asi8.astype(np.float64)
    out[idx.isna()] = np.nan
    return out


def scalar_us(value: datetime) -> float:
    """One datetime (naive = UTC) → µs since the epoch."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return float((value - datetime(1970, 1, 1)) // timedelta(microseconds=1))


def from_us(values: np.ndarray) -> np.ndarray:
    """float64 µs (NaN = missing) → naive UTC datetime64[us] (NaT)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.where(np.isnan(v), np.iinfo(np.int64).min, np.nan_to_num(v)).astype(np.int64)
    return out.view("datetime64[us]")


@dataclass(frozen=True)
class WorkingTime:
    """A calendar's working intervals over a date range (all arrays float64 µs, sorted).

    start/end: the UTC pieces; cum: working time before each piece; day: local date of each
    working day, cob: its close of business (end of its last piece), cob_cum: F at that close.
    `always` marks the built-in 24x7 clock, whose F is the identity.
    """

    name: str
    start: np.ndarray
    end: np.ndarray
    cum: np.ndarray
    day: np.ndarray  # datetime64[D]
    cob: np.ndarray
    cob_cum: np.ndarray
    always: bool = False

    @classmethod
    def always_on(cls) -> WorkingTime:
        empty = np.array([], dtype=np.float64)
        return cls("24x7", empty, empty, empty, np.array([], "datetime64[D]"), empty, empty, True)

    @property
    def total(self) -> float:
        return float(self.cum[-1] + self.end[-1] - self.start[-1]) if len(self.start) else 0.0

    def F(self, t) -> np.ndarray:
        """Working µs from the table's start to each instant in `t` (NaN stays NaN)."""
        t = np.asarray(t, dtype=np.float64)
        if self.always:
            return t.copy()
        if not len(self.start):  # no working time in the whole range
            return np.where(np.isnan(t), np.nan, 0.0)
        i = np.searchsorted(self.start, t, side="right") - 1
        j = np.maximum(i, 0)
        length = self.end[j] - self.start[j]
        out = self.cum[j] + np.clip(t - self.start[j], 0.0, length)
        return np.where(i < 0, np.where(np.isnan(t), np.nan, 0.0), out)

    def inverse(self, m) -> np.ndarray:
        """The earliest instant at which F reaches `m` (NaN beyond the table)."""
        m = np.asarray(m, dtype=np.float64)
        if self.always:
            return m.copy()
        if not len(self.start):
            return np.full(m.shape, np.nan)
        cum_end = self.cum + (self.end - self.start)
        i = np.searchsorted(cum_end, m, side="left")
        ok = (i < len(cum_end)) & ~np.isnan(m)
        j = np.minimum(i, max(len(cum_end) - 1, 0))
        return np.where(ok, self.start[j] + (m - self.cum[j]), np.nan)

    def business_days_deadline(self, t, n: int) -> np.ndarray:
        """F at close of business on the n-th working day after the day the clock starts.

        The start day is the first working day whose close is after `t`: a start before
        opening counts that day, a start at or after close (or on a non-working day) counts
        from the next working day. n = 0 is "same business day".
        """
        t = np.asarray(t, dtype=np.float64)
        if not len(self.cob):
            return np.full(t.shape, np.nan)
        k = np.searchsorted(self.cob, t, side="right") + n
        ok = (k < len(self.cob)) & ~np.isnan(t)
        return np.where(ok, self.cob_cum[np.minimum(k, max(len(self.cob) - 1, 0))], np.nan)

    def close_of(self, day: date) -> float:
        """F at close of business of `day`, or of the last working day before it."""
        k = int(np.searchsorted(self.day, np.datetime64(day, "D"), side="right")) - 1
        return float(self.cob_cum[k]) if k >= 0 else np.nan

    def frame(self) -> pd.DataFrame:
        """The intervals as DataFrame(start_utc, end_utc, cum_minutes)."""
        return pd.DataFrame({"start_utc": from_us(self.start), "end_utc": from_us(self.end),
                             "cum_minutes": self.cum / US_PER_MIN})


def build(calendar: Calendar | None, first: date, last: date) -> WorkingTime:
    """Working intervals of `calendar` for local days first..last (None: the 24x7 clock)."""
    if calendar is None:
        return WorkingTime.always_on()
    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    hol = calendar.holiday_dates(range(first.year, last.year + 1))
    working = ~np.isin(days, np.array(sorted(hol), dtype="datetime64[D]"))
    rows_day, rows_a, rows_b = [], [], []
    for wd in range(7):  # one pass per weekday and span, not per day
        sel = np.flatnonzero(working & (weekday == wd))
        for span_start, span_end in calendar.spans(wd):
            rows_day.append(sel)
            rows_a.append(np.full(len(sel), span_start))
            rows_b.append(np.full(len(sel), span_end))
    if not rows_day:
        empty = np.array([], dtype=np.float64)
        return WorkingTime(calendar.name, empty, empty, empty, np.array([], "datetime64[D]"), empty, empty)
    d = np.concatenate(rows_day)
    a = np.concatenate(rows_a).astype(np.float64) * US_PER_MIN
    b = np.concatenate(rows_b).astype(np.float64) * US_PER_MIN
    midnight = days.astype("datetime64[us]").astype(np.int64).astype(np.float64)
    o1, o2, trans = _offsets(calendar.timezone, midnight)
    base = midnight[d]
    # The piece read with the offset before the transition, then the one after it.
    s1, e1 = base + a - o1[d], np.minimum(base + b - o1[d], trans[d])
    s2, e2 = np.maximum(base + a - o2[d], trans[d]), base + b - o2[d]
    start, end, owner = np.concatenate([s1, s2]), np.concatenate([e1, e2]), np.concatenate([d, d])
    keep = end > start
    start, end, owner = start[keep], end[keep], owner[keep]
    order = np.argsort(start, kind="stable")
    start, end, owner = start[order], end[order], owner[order]
    length = end - start
    cum = np.concatenate([[0.0], np.cumsum(length)[:-1]]) if len(length) else length
    # Close of business per working day = end of that day's last piece (pieces are in time order).
    last_of_day = np.flatnonzero(np.append(owner[1:] != owner[:-1], True)) if len(owner) else owner
    return WorkingTime(calendar.name, start, end, cum, days[owner[last_of_day]], end[last_of_day],
                       cum[last_of_day] + length[last_of_day])


def _offset_at(tz: str, u: np.ndarray) -> np.ndarray:
    """UTC offset (µs) in `tz` at UTC instants `u` (µs)."""
    idx = pd.DatetimeIndex(u.astype(np.int64).view("datetime64[us]")).tz_localize("UTC").tz_convert(tz)
    local = idx.tz_localize(None).as_unit("us").asi8
    return (local - u.astype(np.int64)).astype(np.float64)


def _offsets(tz: str, midnight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per local day: offset before and after the day's transition and its UTC instant
    (+inf when the offset does not change around that day). Assumes at most one transition
    within the 52 h around a local day, which holds for every zone in use today."""
    lo, hi = midnight - _BEFORE, midnight + _AFTER
    o1, o2 = _offset_at(tz, lo), _offset_at(tz, hi)
    trans = np.full(len(midnight), np.inf)
    moving = np.flatnonzero(o1 != o2)
    if len(moving):
        # Bisection to the second on the few DST days only: offset(left) = o1, offset(right) = o2.
        left, right = lo[moving].copy(), hi[moving].copy()
        while np.any(right - left > 1_000_000):
            mid = np.floor((left + right) / 2_000_000) * 1_000_000
            before = _offset_at(tz, mid) == o1[moving]
            left, right = np.where(before, mid, left), np.where(before, right, mid)
        trans[moving] = right
    return o1, o2, trans


# F(t) in SQL over a table made by `register` (minutes; 0 before the first interval):
#   SELECT …, coalesce(c.cum_us + least(greatest(date_diff('microsecond', c.start_utc, x.t), 0),
#             date_diff('microsecond', c.start_utc, c.end_utc)), 0) / 6e7 AS f_minutes
#   FROM x ASOF LEFT JOIN <table> c ON x.t >= c.start_utc
def register(cur, table_name: str, wt: WorkingTime) -> None:
    """Store a calendar's intervals as TEMP table (start_utc, end_utc, cum_us) on `cur`, for SQL
    that wants F(t) through an ASOF JOIN (the query above). Not for the 24x7 clock (F = t)."""
    frame = pd.DataFrame({"start_utc": from_us(wt.start), "end_utc": from_us(wt.end),
                          "cum_us": wt.cum.astype(np.int64)})
    cur.register("_wt_frame", frame)
    try:
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {qident(table_name)} AS SELECT * FROM _wt_frame ORDER BY start_utc")
    finally:
        cur.unregister("_wt_frame")


def business_minutes(calendar: Calendar | None, start, end) -> np.ndarray:
    """Working minutes between instants (arrays or scalars; naive = UTC) on `calendar`."""
    a, b = to_us(start), to_us(end)
    if not np.isfinite(np.concatenate([a, b])).any():
        return np.full(np.broadcast(a, b).shape, np.nan)
    lo, hi = np.nanmin(np.concatenate([a, b])), np.nanmax(np.concatenate([a, b]))
    wt = build(calendar, _date(lo) - timedelta(days=2), _date(hi) + timedelta(days=2))
    return (wt.F(b) - wt.F(a)) / US_PER_MIN


def working_intervals(calendar: Calendar | None, start: date, end: date) -> pd.DataFrame:
    """DataFrame(start_utc, end_utc, cum_minutes) of the calendar's working intervals for the
    local days start..end, holidays removed; cum_minutes = working minutes before each one.
    The 24x7 clock (None) is one interval covering the whole range in UTC."""
    if calendar is None:
        s = datetime.combine(start, datetime.min.time())
        e = datetime.combine(end + timedelta(days=1), datetime.min.time())
        return pd.DataFrame({"start_utc": pd.to_datetime([s]).as_unit("us"),
                             "end_utc": pd.to_datetime([e]).as_unit("us"), "cum_minutes": [0.0]})
    return build(calendar, start, end).frame()


def _date(us: float) -> date:
    return (datetime(1970, 1, 1) + timedelta(microseconds=int(us))).date()
