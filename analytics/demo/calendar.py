"""The demo's business calendar (New York hours, US holidays) as a UTC minute grid, on which
analytics.demo.generator draws its responders' times for a million tickets at once."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd

DEMO_TIMEZONE = "America/New_York"
DEMO_HOLIDAY_COUNTRY = "US"  # the UK has no bank holiday between Sep 7 and Nov 21; the US has three
BUSINESS_HOURS = (9, 17)  # local, Mon-Fri


def demo_holidays(years) -> holidays.HolidayBase:
    """The public holidays of the demo's business calendar (for the SLA engine's demo policy)."""
    return holidays.country_holidays(DEMO_HOLIDAY_COUNTRY, years=years)


class Calendar:
    """A UTC minute grid from the day before go-live to 150 days past the range, with a running
    count of business minutes, so "t + N business hours" is one searchsorted for a million rows.
    Times are float seconds from `origin` (NaN = never)."""

    def __init__(self, go_live: date, days: int):
        self.go_live, self.days = go_live, days
        self.origin = np.datetime64(go_live - timedelta(days=1), "s")
        first = pd.Timestamp(go_live - timedelta(days=2))  # local day 0 of the day arrays
        local_days = pd.date_range(first, periods=days + 154, freq="D")
        hol = demo_holidays(sorted({d.year for d in local_days}))
        holiday = np.array([d.date() in hol for d in local_days])
        bday = (local_days.day_of_week < 5) & ~holiday
        # Per-day views indexed by days since go-live (the grid also sees the two days before).
        self.weekday, self.holiday, self.bday = local_days.day_of_week.to_numpy()[2:], holiday[2:], bday[2:]
        grid = pd.date_range(pd.Timestamp(self.origin), periods=(days + 151) * 1440, freq="min", tz="UTC")
        lg = grid.tz_convert(DEMO_TIMEZONE)
        lday = (lg.tz_localize(None).normalize() - first).days.to_numpy()
        self.is_bus = bday[lday] & (lg.hour >= BUSINESS_HOURS[0]) & (lg.hour < BUSINESS_HOURS[1])
        self.cum = np.concatenate([[0], np.cumsum(self.is_bus, dtype=np.int64)])
        self.t_end = self.from_local(np.array([np.datetime64(go_live + timedelta(days=days), "s")]))[0]

    def from_local(self, local: np.ndarray) -> np.ndarray:
        """Local wall-clock datetime64 → seconds from the UTC origin (DST handled by pandas)."""
        utc = pd.DatetimeIndex(local).tz_localize(DEMO_TIMEZONE, ambiguous=np.zeros(len(local), bool),
                                                   nonexistent="shift_forward").tz_convert(None)
        return (utc.to_numpy().astype("datetime64[s]") - self.origin).astype(np.int64).astype(float)

    def minute(self, t: np.ndarray) -> np.ndarray:
        """The grid minute of each time (NaN → 0, clipped to the grid)."""
        return np.clip(np.nan_to_num(t // 60, nan=0).astype(np.int64), 0, len(self.is_bus) - 1)

    def badd(self, t: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """t + `hours` business hours (≥ 1 minute, minute resolution)."""
        target = self.cum[self.minute(t)] + np.maximum(np.round(hours * 60), 1).astype(np.int64)
        k = np.minimum(np.searchsorted(self.cum, target, side="left"), len(self.is_bus))
        return np.where(np.isnan(t), np.nan, np.maximum(k * 60.0, t))
