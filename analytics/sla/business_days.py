"""Whole business days for governance deadlines: PIR due dates and the triage "same business day".

Both read the working-hours calendar of the SLA policy in force (analytics/sla/policy.py), so a
holiday or a changed working week moves these deadlines exactly as it moves the SLA clocks.

- `add_business_days(cal, day, n)`: the n-th working day after a local date; the date itself
  never counts, whatever the hour. Resolved Friday → day 1 is Monday (Tuesday when Monday is a
  holiday).
- `close_of_business(cal, t)`: the end of the working day an instant falls on; an instant before
  opening belongs to that day, one at or after close (or on a day off) to the next working day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from analytics.sla.business_time import build, to_us
from analytics.sla.calendar import ALWAYS, Calendar
from analytics.sla.policy import BUSINESS, Policy, business_calendar

_NAT = np.datetime64("NaT", "D")


def working_calendar(policy: Policy, preferred: str | None = None, tz: str = "UTC") -> Calendar:
    """The policy's calendar named `preferred`, else the one named "business", else its first;
    Mon–Fri 09:00–17:00 in `tz` when the policy has no working-hours calendar at all."""
    for name in (preferred, BUSINESS):
        if name and name != ALWAYS:
            found = next((c for c in policy.calendars if c.name == name), None)
            if found is not None:
                return found
    return policy.calendars[0] if policy.calendars else business_calendar(tz)


def policy_index(pols: list[Policy], days: np.ndarray) -> tuple[list[Policy], np.ndarray]:
    """(versions sorted by effective_from, index of the version in force on each UTC day).

    Same rule as sla.policy.policy_in_force: the latest effective_from on or before the day (a
    later save wins a tie); days before every version get the earliest. Missing days get 0."""
    ordered = [p for _, p in sorted(enumerate(pols), key=lambda ip: (ip[1].effective_from, ip[0]))]
    starts = np.array([p.effective_from for p in ordered], dtype="datetime64[D]")
    d = np.asarray(days, dtype="datetime64[D]")
    idx = np.searchsorted(starts, np.where(np.isnat(d), starts[0], d), side="right") - 1
    return ordered, np.maximum(idx, 0)


def local_dates(values, tz: str) -> np.ndarray:
    """Naive-UTC instants → their local calendar dates in `tz` (datetime64[D]; NaT stays NaT)."""
    idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(values, dtype=object)), utc=True))
    return idx.tz_convert(tz).tz_localize(None).values.astype("datetime64[D]")


def add_business_days(calendar: Calendar, days, n) -> np.ndarray:
    """The n-th working day after each local date in `days` (datetime64[D], NaT → NaT)."""
    d = np.asarray(days, dtype="datetime64[D]")
    steps = np.broadcast_to(np.asarray(n, dtype=np.int64), d.shape)
    ok = ~np.isnat(d)
    out = np.full(d.shape, _NAT)
    if not ok.any():
        return out
    first, last = _as_date(d[ok].min()), _as_date(d[ok].max())
    span = int(steps[ok].max()) * 3 + 60
    while True:  # a holiday-heavy calendar may need a longer table: grow until every date lands
        wt = build(calendar, first, last + timedelta(days=span))
        k = np.searchsorted(wt.day, d[ok], side="right") + steps[ok] - 1
        if (k < len(wt.day)).all() or span > 3660:
            break
        span *= 2
    good = k < len(wt.day)
    out[np.flatnonzero(ok)[good]] = wt.day[k[good]]
    return out


def close_of_business(calendar: Calendar, instants) -> np.ndarray:
    """End of the working day each naive-UTC instant belongs to, as naive UTC datetime64[us]."""
    t = to_us(instants)
    out = np.full(t.shape, np.datetime64("NaT", "us"))
    ok = ~np.isnan(t)
    if not ok.any():
        return out
    lo = pd.Timestamp(np.nanmin(t), unit="us").date() - timedelta(days=2)
    hi = pd.Timestamp(np.nanmax(t), unit="us").date()
    span = 60
    while True:
        wt = build(calendar, lo, hi + timedelta(days=span))
        k = np.searchsorted(wt.cob, t[ok], side="right")
        if (k < len(wt.cob)).all() or span > 3660:
            break
        span *= 2
    good = k < len(wt.cob)
    out[np.flatnonzero(ok)[good]] = wt.cob[k[good]].astype(np.int64).view("datetime64[us]")
    return out


def _as_date(value: np.datetime64) -> date:
    return date.fromisoformat(str(value.astype("datetime64[D]")))
