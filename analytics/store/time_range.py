"""The span of time Hypercare accepts: ticket timestamps and as-of instants outside it are refused.

Dates far outside it (year 1 or 9999, typed by mistake or planted) overflow the date arithmetic
of pandas and Python (nanosecond timestamps end in 2262), so they are refused where they enter:
a row with such a timestamp is a rejected row with its reason, an as-of such a command error.
"""

from __future__ import annotations

from datetime import datetime

EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2100, 1, 1)
RANGE_TEXT = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"


def check(moment: datetime, what: str = "time") -> datetime:
    """`moment` (naive UTC) when it lies in [EARLIEST, LATEST], else ValueError saying so."""
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"the {what} {moment.isoformat(sep=' ')} is outside the range Hypercare accepts: "
                         f"{RANGE_TEXT}")
    return moment
