"""Numbers as people write them: durations scaled to their size, percentages and counts."""

from __future__ import annotations

import math

MINUTES_PER = {"seconds": 1 / 60, "minutes": 1.0, "hours": 60.0, "days": 1440.0}
NONE_TEXT = "—"


def duration(value: float | None, unit: str = "minutes", *, business: bool = False) -> str:
    """A duration in the unit a person would pick: "45 s", "8.5 min", "42 min", "15 h 02 min",
    "2 h", "2.1 d", "43 d"; NONE_TEXT for None or NaN.

    Whole hours and minutes below a day because that is how response times are quoted; tenths of
    a day up to ten days, whole days beyond (a resolution time of 2,090.9 minutes reads 1.5 d).
    `business`: business time, never in days (a business day is not 24 hours): "24 h", "164 h"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE_TEXT
    minutes = float(value) * MINUTES_PER[unit]
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    if minutes < 1:
        return f"{sign}{minutes * 60:.0f} s"
    if minutes < 9.95:
        return f"{sign}{minutes:.1f} min"
    whole = round(minutes)
    if whole < 60:
        return f"{sign}{whole} min"
    if whole < 1440 or business:
        hours, rest = divmod(whole, 60)
        if business and hours >= 10:
            return f"{sign}{minutes / 60:,.0f} h"
        return f"{sign}{hours} h" if rest == 0 else f"{sign}{hours} h {rest:02d} min"
    days = minutes / 1440
    return f"{sign}{days:.1f} d" if days < 10 else f"{sign}{days:,.0f} d"


def percent(value: float | None, *, points: bool = False) -> str:
    """"78.2 %"; two decimals from 99 % up, where a tenth hides a breach ("99.95 %");
    "+1.3 points" style with `points`; NONE_TEXT for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE_TEXT
    digits = 2 if 99 <= abs(value) < 100 else 1
    text = f"{value:,.{digits}f}"
    return f"{text} points" if points else f"{text} %"


def count(value: float | None) -> str:
    """"1,234"; NONE_TEXT for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE_TEXT
    return f"{value:,.0f}"
