"""What the SLA figures leave out and what stopped the clocks: per-reason counts and pause time.

- `not_measured(frame)`: per clock and reason, the tickets an evaluation did not judge
  ("no acknowledgement recorded", the KPIs' exclusion labels, "no severity mapped", …).
- `paused_by(con, …)`: per clock and waiting status (with its pause_reason), the business hours
  the clock stood still and on how many tickets — "Paused by: Wait - User 1,234 h on 210 tickets".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.sla.business_time import US_PER_MIN
from analytics.sla.engine import METRICS, judge
from analytics.sla.load import drop_temp, load_batch
from analytics.sla.policy import Policy
from analytics.sla.policy import policies as saved_policies

PAUSED_COLUMNS = ("clock", "status", "pause_reason", "hours", "tickets")


def not_measured(frame: pd.DataFrame) -> pd.DataFrame:
    """(clock, reason, tickets) for every not-applicable clock of an `evaluate` frame, most first."""
    parts = []
    for m in METRICS:
        reason = frame.loc[frame[f"{m}_status"].astype(str).eq("not applicable"), f"{m}_reason"].astype(str)
        counts = reason.value_counts()
        parts.append(pd.DataFrame({"clock": m, "reason": counts.index.astype(str), "tickets": counts.to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["clock", "tickets"], ascending=[True, False], kind="stable").reset_index(drop=True)


def paused_by(con, *, as_of: datetime, where: str = "TRUE", params: Mapping[str, Any] | None = None,
              policies: list[Policy] | None = None,
              per_ticket: bool = False) -> pd.DataFrame:
    """Business time each waiting status took off each clock, for the tickets matching `where`.

    Columns PAUSED_COLUMNS (hours, and tickets with any such time), longest first; with
    `per_ticket`, one row per ticket, clock, status and reason: ticket_id, clock, status,
    pause_reason, minutes. Only time within the judged clock counts (as paused_minutes)."""
    pols = list(policies) if policies is not None else saved_policies(con)
    cur = con.cursor()
    try:
        b = load_batch(cur, where, params or {}, pols)
    finally:
        drop_temp(cur)
    j = judge(b, pols, as_of)
    status = np.array([*b.statuses, None], dtype=object)[b.seg_status]
    reason = np.array([*b.reasons, None], dtype=object)[b.seg_reason]
    rows = pd.concat([pd.DataFrame({"ticket_id": b.ticket_id.to_numpy()[b.seg_rn], "clock": m, "status": status,
                                    "pause_reason": reason, "minutes": j.seg_paused[m] / US_PER_MIN})
                      for m in METRICS], ignore_index=True)
    rows = rows[rows["minutes"] > 0]
    keys = ["ticket_id", "clock", "status", "pause_reason"]
    per = rows.groupby(keys, dropna=False, sort=False)["minutes"].sum().reset_index()
    per["pause_reason"] = per["pause_reason"].astype(object).where(per["pause_reason"].notna(), None)
    if per_ticket:
        return per.sort_values(keys, kind="stable").reset_index(drop=True)
    out = per.groupby(keys[1:], dropna=False, sort=False).agg(minutes=("minutes", "sum"), tickets=("ticket_id", "size"))
    out = out.reset_index().assign(hours=lambda d: d["minutes"] / 60)
    out["pause_reason"] = out["pause_reason"].astype(object).where(out["pause_reason"].notna(), None)
    return out[list(PAUSED_COLUMNS)].sort_values("hours", ascending=False, kind="stable").reset_index(drop=True)


def describe_paused_by(table: pd.DataFrame, clock: str = "resolution") -> str:
    """One sentence for a clock: "Paused by: Wait - User 1,234 h on 210 tickets; …"."""
    rows = table[table["clock"] == clock]
    if rows.empty:
        return f"Nothing paused the {clock} clock."
    parts = [f"{r.status}{f' ({r.pause_reason})' if isinstance(r.pause_reason, str) else ''} "
             f"{r.hours:,.0f} h on {r.tickets:,} ticket{'s' if r.tickets != 1 else ''}" for r in rows.itertuples()]
    return "Paused by: " + "; ".join(parts)
