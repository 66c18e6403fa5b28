"""One ticket's SLA story for the drill-down: history, stops, and when each clock was counting.

Built from the same `load_batch` + `judge` as the bulk evaluation, so the numbers a drill-down
shows are the numbers in the table it was opened from. Only this module walks segments in a
Python loop, and only for one ticket.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from . import normalise
from .business_time import US_PER_MIN, WorkingTime, from_us, scalar_us
from .sla_clock import NA, span
from .sla_engine import CLOSEDISH, METRICS, frame, judge, load_batch, to_json_records
from .sla_policy import Policy, pause_matcher, policies as saved_policies


def ticket_timeline(con, ticket_id: str, as_of: datetime, policies: list[Policy] | None = None) -> dict:
    """Everything the SLA drill-down draws for one ticket, times as naive UTC datetimes:

    {"ticket_id", "as_of", "policy_version",
     "evaluation": the ticket's row of `evaluate` (JSON-ready: ISO "…Z" strings, None),
     "history": [{"event_time", "seq", "status", "team", "tier"}, …] in event order,
     "pause_segments": [{"start", "end", "status", "ongoing"}, …]  (clipped to the resolution clock),
     "resolved_segments": [{"start", "end", "status"}, …]  (resolved before a reopen: clock stopped),
     "running_segments": {"response": [{"start", "end", "minutes"}, …], "resolution": […]}
        (working time on the target's calendar when the clock counted; empty when not applicable),
     "clocks": {"response": {"start", "end", "calendar", "target_minutes", "breach_at"}, …}}

    Raises ValueError when the store has no such ticket."""
    pols = list(policies) if policies is not None else saved_policies(con)
    cur = con.cursor()
    try:
        batch = load_batch(cur, "ticket_id = ?", [ticket_id], pols)
        history = cur.execute(
            "SELECT event_time, seq, status, team, tier FROM status_history WHERE ticket_id = ? "
            "ORDER BY event_time, seq", [ticket_id]).fetchall()
    finally:
        cur.execute("DROP TABLE IF EXISTS _sla_t")
    if batch.n == 0:
        raise ValueError(f"no ticket '{ticket_id}' in the store")
    j = judge(batch, pols, as_of)
    row = to_json_records(frame(batch, j))[0]
    now = scalar_us(as_of)
    out: dict = {"ticket_id": ticket_id, "as_of": as_of, "policy_version": row["policy_version"], "evaluation": row,
                 "history": [dict(zip(("event_time", "seq", "status", "team", "tier"), h)) for h in history],
                 "pause_segments": [], "resolved_segments": [], "running_segments": {m: [] for m in METRICS},
                 "clocks": {}}
    if j.policy_index[0] < 0:
        return out
    p = j.policies[j.policy_index[0]]
    pausing = pause_matcher(p.pause_statuses)
    stops = []  # (start, end, status, is_pause) in µs, before clipping
    for s, e, code in zip(batch.seg_start, batch.seg_end, batch.seg_status):
        status = batch.statuses[code]
        if pausing.match(status):
            stops.append((s, e, status, True))
        elif normalise.status_category(status) in CLOSEDISH:
            stops.append((s, e, status, False))
    res = j.m["resolution"]
    res_end = res["end"][0] if not np.isnan(res["end"][0]) else now
    for s, e, status, is_pause in stops:
        lo, hi = max(s, batch.opened[0]), min(e, res_end)
        if is_pause and hi > lo:
            out["pause_segments"].append({"start": _dt(lo), "end": _dt(hi), "status": status,
                                          "ongoing": bool(e > now and s <= now)})
        elif not is_pause and e <= res_end and hi > lo:
            out["resolved_segments"].append({"start": _dt(lo), "end": _dt(hi), "status": status})
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
        out["running_segments"][m] = _running(wt, start, end, [(s, e) for s, e, _, _ in stops])
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
