"""One ticket's SLA story for the drill-down: history, stops, and when each clock was counting.

Built from the same `load_batch` + `judge` as the bulk evaluation, so the numbers a drill-down
shows are the numbers in the table it was opened from. Only this module walks segments in a
Python loop, and only for one ticket.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from analytics.sla.business_time import US_PER_MIN, WorkingTime, from_us, scalar_us
from analytics.sla.clock import NA, RES_HISTORY, RES_NONE, RES_WHY, span
from analytics.sla.engine import METRICS, frame, judge, to_json_records
from analytics.sla.load import drop_temp, has_column, load_batch
from analytics.sla.policy import Policy
from analytics.sla.policy import policies as saved_policies


def ticket_timeline(con, ticket_id: str, as_of: datetime, policies: list[Policy] | None = None) -> dict:
    """Everything the SLA drill-down draws for one ticket, times as naive UTC datetimes:

    {"ticket_id", "as_of", "policy_version",
     "evaluation": the ticket's row of `evaluate` (JSON-ready: ISO "…Z" strings, None),
     "history": [{"event_time", "seq", "status", "team", "tier", "pause_reason"}, …] in event order,
     "resolution_time": {"used", "source" ("history" / "export" / None), "why", "reported"}
        (the instant the resolution clock stops at, where it came from, and the export's own
        resolved_at for comparison),
     "pause_segments": [{"start", "end", "status", "reason", "clocks", "ongoing"}, …]  (clipped to
        the resolution clock; "clocks": the clocks that status or reason pauses),
     "paused_by": [{"clock", "status", "reason", "minutes"}, …]  (business minutes each waiting
        status took off each clock),
     "resolved_segments": [{"start", "end", "status"}, …]  (resolved before a reopen: clock stopped),
     "running_segments": {"response": [{"start", "end", "minutes"}, …], "resolution": […]}
        (working time on the target's calendar when the clock counted; empty when not applicable),
     "clocks": {"response": {"start", "end", "calendar", "target_minutes", "breach_at"}, …}}

    Raises ValueError when the store has no such ticket."""
    pols = list(policies) if policies is not None else saved_policies(con)
    cur = con.cursor()
    try:
        batch = load_batch(cur, "ticket_id = $ticket", {"ticket": ticket_id}, pols)
        reason_sql = "pause_reason" if has_column(cur, "status_history", "pause_reason") else "NULL"
        history = cur.execute(
            f"SELECT event_time, seq, status, team, tier, {reason_sql} FROM status_history WHERE ticket_id = $ticket "
            "ORDER BY event_time, seq", {"ticket": ticket_id}).fetchall()
    finally:
        drop_temp(cur)
    if batch.n == 0:
        raise ValueError(f"no ticket '{ticket_id}' in the store")
    j = judge(batch, pols, as_of)
    row = to_json_records(frame(batch, j))[0]
    now = scalar_us(as_of)
    source = int(batch.res_source[0])
    out: dict = {"ticket_id": ticket_id, "as_of": as_of, "policy_version": row["policy_version"], "evaluation": row,
                 "history": [dict(zip(("event_time", "seq", "status", "team", "tier", "pause_reason"), h))
                             for h in history],
                 "resolution_time": {
                     "used": None if source == RES_NONE else _dt(batch.resolved[0]),
                     "source": None if source == RES_NONE else "history" if source == RES_HISTORY else "export",
                     "why": RES_WHY[source],
                     "reported": None if np.isnan(batch.reported[0]) else _dt(batch.reported[0])},
                 "pause_segments": [], "paused_by": [], "resolved_segments": [],
                 "running_segments": {m: [] for m in METRICS}, "clocks": {}}
    if j.policy_index[0] < 0:
        return out
    p = j.policies[j.policy_index[0]]
    res = j.m["resolution"]
    res_end = res["end"][0] if not np.isnan(res["end"][0]) else now
    paused: dict[tuple, float] = {}
    for i, (s, e, code, why) in enumerate(zip(batch.seg_start, batch.seg_end, batch.seg_status, batch.seg_reason)):
        status, reason = batch.statuses[code], batch.reasons[why] if why >= 0 else None
        clocks = [m for m in METRICS if j.seg_pause[m][i]]
        lo, hi = max(s, batch.opened[0]), min(e, res_end)
        if clocks and hi > lo:
            out["pause_segments"].append({"start": _dt(lo), "end": _dt(hi), "status": status, "reason": reason,
                                          "clocks": clocks, "ongoing": bool(e > now and s <= now)})
        elif not clocks and batch.seg_closed[i] and e <= res_end and hi > lo:
            out["resolved_segments"].append({"start": _dt(lo), "end": _dt(hi), "status": status})
        for m in clocks:
            if j.seg_paused[m][i] > 0:
                key = (m, status, reason)
                paused[key] = paused.get(key, 0.0) + float(j.seg_paused[m][i] / US_PER_MIN)
    out["paused_by"] = [{"clock": m, "status": st, "reason": why, "minutes": mins} for (m, st, why), mins in paused.items()]
    first, last = span(batch, now, j.policies)
    for m in METRICS:
        r = j.m[m]
        if r["status"][0] == NA or r["clock"][0] < 0:
            continue
        name = j.clocks[r["clock"][0]]
        wt = j.calendar(p, name, first, last)
        start = r["start"][0]
        end = r["end"][0] if not np.isnan(r["end"][0]) else now
        out["clocks"][m] = {"start": _dt(start), "end": None if np.isnan(r["end"][0]) else _dt(end), "calendar": name,
                            "target_minutes": float(r["target"][0] / US_PER_MIN),
                            "breach_at": None if np.isnan(r["breach"][0]) else _dt(r["breach"][0])}
        stops = (j.seg_pause[m] | batch.seg_closed)
        out["running_segments"][m] = _running(wt, start, end, list(zip(batch.seg_start[stops], batch.seg_end[stops])))
    return out


def _running(wt: WorkingTime, start: float, end: float, stops: list[tuple[float, float]]) -> list[dict]:
    """Working intervals of `wt` within [start, end] minus the stop segments."""
    if wt.always:
        pieces = [(start, end)] if end > start else []
    else:
        i = max(int(np.searchsorted(wt.end, start, side="right")), 0)
        pieces = []
        while i < len(wt.start) and wt.start[i] < end:
            lo, hi = max(wt.start[i], start), min(wt.end[i], end)
            if hi > lo:
                pieces.append((lo, hi))
            i += 1
    for s, e in sorted(stops):
        cut = []
        for lo, hi in pieces:
            if e <= lo or s >= hi:
                cut.append((lo, hi))
                continue
            if s > lo:
                cut.append((lo, s))
            if e < hi:
                cut.append((e, hi))
        pieces = cut
    return [{"start": _dt(lo), "end": _dt(hi), "minutes": float((hi - lo) / US_PER_MIN)} for lo, hi in pieces]


def _dt(us: float) -> datetime:
    return pd.Timestamp(from_us(np.array([us]))[0]).to_pydatetime()
