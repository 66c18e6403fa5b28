"""One SLA clock for a group of tickets sharing a policy, a target and a calendar.

The arithmetic behind analytics/sla/engine.py: the ticket arrays it works on (`Batch`), the
result arrays it fills (`Judgement`), and `clock`, which turns starts, ends and stop segments
into targets, elapsed business time, statuses and exact breach instants — all as numpy array
operations on one group at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from analytics.sla.business_time import US_PER_MIN, WorkingTime, build
from analytics.sla.calendar import ALWAYS
from analytics.sla.policy import Policy, Target
from analytics.store.schema import SEVERITIES, TICKET_TYPES

NA, MET, BREACHED, RUNNING, PAUSED = 0, 1, 2, 3, 4


# Where a ticket's resolution instant came from (Batch.res_source; RES_WHY says it in words).
RES_NONE, RES_HISTORY, RES_EXPORT, RES_EXPORT_HISTORY_OPEN = 0, 1, 2, 3
RES_WHY = {
    RES_NONE: "no resolution time: neither the status history nor the export has one",
    RES_HISTORY: "the status history: first entry into the resolved/closed stretch the ticket never leaves",
    RES_EXPORT: "the export's resolved_at column (the ticket has no status history)",
    RES_EXPORT_HISTORY_OPEN: "the export's resolved_at column (the status history does not end in a "
                             "resolved/closed status)",
}


@dataclass
class Batch:
    """The tickets being judged (row i = rn i) and their history's stop segments, sorted by
    ticket then time. Times are float64 µs since the epoch, NaN = missing. Text columns are
    (codes, values) pairs with code −1 for null."""

    ticket_id: pd.Series
    severity: tuple[np.ndarray, list]
    type: tuple[np.ndarray, list]
    category: tuple[np.ndarray, list]
    status: tuple[np.ndarray, list]  # the ticket's current status
    opened: np.ndarray
    ack: np.ndarray
    resolved: np.ndarray  # the resolution instant the clocks use (see res_source)
    seg_rn: np.ndarray  # history rows that pause a clock or sat resolved before a reopen: ticket row,
    seg_start: np.ndarray  # when the status was entered,
    seg_end: np.ndarray  # when the next event came (+inf: still in it),
    seg_status: np.ndarray  # the status, as a code into `statuses`,
    seg_closed: np.ndarray  # whether it is a resolved/closed status,
    seg_reason: np.ndarray  # and its pause_reason, as a code into `reasons` (−1: none)
    statuses: list[str]
    reasons: list[str]  # pause_reason values, lower case
    cur_reason: np.ndarray  # the ticket's own pause_reason, as a code into `reasons`
    reported: np.ndarray  # the export's resolved_at
    res_source: np.ndarray  # RES_* code: where `resolved` came from
    excluded: np.ndarray  # 0, or 1 + index into sla.load.EXCLUDED (MTTR's exclusions)
    ack_excluded: np.ndarray  # 1: its source records no acknowledgement of its own, 2: acknowledged before opened

    @property
    def n(self) -> int:
        return len(self.opened)


class Judgement:
    """Per-ticket result arrays, filled group by group; text results are codes into lists."""

    def __init__(self, n: int, policies: list[Policy], metrics: tuple[str, ...]):
        self.n, self.policies = n, policies
        self.policy_index = np.full(n, -1, dtype=np.int64)
        self.paused = np.full(n, np.nan)
        self.reasons: list[str | None] = [None]  # code 0 = applicable
        # Per segment of the batch and clock: does it stop that clock for pause (its ticket's
        # policy), and how many business µs of that clock did it pause.
        self.seg_pause: dict[str, np.ndarray] = {}
        self.seg_paused: dict[str, np.ndarray] = {}
        self.clocks: list[str] = []
        self.m = {m: {"target": np.full(n, np.nan), "business": np.full(n, np.nan), "calendar": np.full(n, np.nan),
                      "status": np.zeros(n, np.int64), "breach": np.full(n, np.nan), "start": np.full(n, np.nan),
                      "end": np.full(n, np.nan), "clock": np.full(n, -1, np.int64), "reason": np.zeros(n, np.int64)}
                  for m in metrics}
        self._calendars: dict[str, WorkingTime] = {}

    def set_reason(self, metric: str, mask: np.ndarray, text: str) -> None:
        """Mark tickets (a boolean mask or row numbers) not applicable for `metric`, saying why."""
        mask = np.asarray(mask)
        if not (mask.any() if mask.dtype == bool else mask.size):
            return
        if text not in self.reasons:
            self.reasons.append(text)
        self.m[metric]["reason"][mask] = self.reasons.index(text)
        self.m[metric]["status"][mask] = NA

    def clock_code(self, name: str) -> int:
        if name not in self.clocks:
            self.clocks.append(name)
        return self.clocks.index(name)

    def calendar(self, p: Policy, name: str, first: date, last: date) -> WorkingTime:
        """The working-time table of a policy's calendar, built once per evaluation."""
        cal = p.calendar(name)
        key = ALWAYS if cal is None else cal.model_dump_json()
        if key not in self._calendars:
            self._calendars[key] = build(cal, first, last)
        return self._calendars[key]

    def buckets(self, pct: np.ndarray, is_open: np.ndarray) -> tuple[list[str], np.ndarray]:
        """At-risk labels for open clocks: [b_i, b_i+1), then "over b_n %" for b_n and above
        (a clock at 100 % has reached its breach instant); code −1 = no bucket."""
        labels: list[str] = []
        codes = np.full(self.n, -1, dtype=np.int64)
        for i, p in enumerate(self.policies):
            b = np.asarray(p.at_risk_buckets, dtype=np.float64)
            names = [f"{x:g}–{y:g} %" for x, y in zip(b, b[1:])] + [f"over {b[-1]:g} %"]
            for name in names:
                if name not in labels:
                    labels.append(name)
            lookup = np.array([-1] + [labels.index(x) for x in names])
            k = np.searchsorted(b, np.nan_to_num(pct, nan=-1.0), side="right")
            sel = (self.policy_index == i) & is_open & ~np.isnan(pct)
            codes[sel] = lookup[k[sel]]
        return labels, codes


def target_table(p: Policy, metric: str) -> np.ndarray:
    """[severity code, type code] → index into p.targets (−1: none); a type's own row wins over
    the any-type row. The last row/column stands for unknown or missing values."""
    table = np.full((len(SEVERITIES) + 1, len(TICKET_TYPES) + 1), -1, dtype=np.int64)
    for si, s in enumerate(SEVERITIES):
        for ti, ty in enumerate((*TICKET_TYPES, None)):
            t = p.target(s, metric, ty)
            if t is not None:
                table[si, ti] = p.targets.index(t)
    return table


def span(b: Batch, now: float, pols: list[Policy]) -> tuple[date, date]:
    """Local days the calendar tables must cover: the tickets, as_of and release dates, plus
    room for the longest target to land after the latest clock end."""
    times = np.concatenate([[now], b.opened, b.ack, b.resolved])
    times = times[np.isfinite(times)]
    first = _day(times.min()) - timedelta(days=2)
    last = _day(times.max())
    extra = 60
    for p in pols:
        for t in p.targets:
            cal = p.calendar(t.calendar)
            week = sum(e - s for wd in range(7) for s, e in (cal.spans(wd) if cal else [(0, 1440)]))
            if t.minutes is not None and week:
                extra = max(extra, int(3 * 7 * t.minutes / week) + 30)
            if t.business_days is not None:
                extra = max(extra, 3 * t.business_days + 30)
        if p.release_date:
            last = max(last, p.release_date)
    return max(first, date(1900, 1, 1)), min(last + timedelta(days=extra), date(2200, 1, 1))


def _day(us: float) -> date:
    return (datetime(1970, 1, 1) + timedelta(microseconds=float(us))).date()


def clock(j: Judgement, metric: str, sel: np.ndarray, b: Batch, p: Policy, target: Target, wt: WorkingTime,
          end_event: np.ndarray, now: float, seg_pause: np.ndarray, seg_stop: np.ndarray,
          status_pausing: np.ndarray) -> None:
    """Fill j.m[metric] for the tickets `sel` (sorted row numbers; one policy, target, calendar).

    Breach rule: the clock breaches at the first instant its business time reaches the target
    (breach_at); stopping before that instant is met, at or after it breached — so elapsed
    business time equal to the target is breached."""
    r = j.m[metric]
    r["clock"][sel] = j.clock_code(target.calendar)
    ev = end_event[sel]
    done = ~np.isnan(ev) & (ev <= now)
    ce = np.where(done, ev, now)  # where this clock stops (or has got to)
    start = b.opened[sel].copy()
    loc = np.full(b.n, -1, dtype=np.int64)
    loc[sel] = np.arange(len(sel))
    keep = np.flatnonzero((loc[b.seg_rn] >= 0) & seg_stop)
    pos, s_raw, e_raw = loc[b.seg_rn[keep]], b.seg_start[keep], b.seg_end[keep]  # pos: sorted
    is_pause = seg_pause[keep]
    if metric == "resolution" and not p.ever_breached:
        # Latest cycle only: the clock restarts at the last reopen (end of a resolved stretch).
        reopened = ~is_pause & (e_raw <= ce[pos])
        last_reopen = np.full(len(sel), -np.inf)
        np.maximum.at(last_reopen, pos[reopened], e_raw[reopened])
        start = np.where(np.isfinite(last_reopen), np.fmax(start, last_reopen), start)
    s = np.maximum(s_raw, start[pos])
    e = np.minimum(e_raw, ce[pos])
    fs = wt.F(s)
    seg_len = np.where(e > s, wt.F(e) - fs, 0.0)  # stopped working time of each segment
    f_start, f_end = wt.F(start), wt.F(ce)
    stopped = np.bincount(pos, seg_len, minlength=len(sel))
    business = f_end - f_start - stopped
    # paused_minutes is reported on the resolution clock (the response's when only it applies:
    # the resolution runs second and overwrites).
    j.paused[sel] = np.bincount(pos, seg_len * is_pause, minlength=len(sel))
    j.seg_paused[metric][keep] = seg_len * is_pause
    # The deadline as a point on the calendar's F scale, and the target it leaves this ticket.
    if target.minutes is not None:
        deadline = f_start + target.minutes * US_PER_MIN
    elif target.business_days is not None and not target.end_of_day:
        # A duration on the schedule: N working days' worth of business time.
        cal = p.calendar(target.calendar)
        if cal is None:  # Policy's validation refuses business_days on the 24x7 calendar
            raise ValueError(f"{target.label}: business_days needs a working-hours calendar, not {target.calendar}")
        deadline = f_start + target.business_days * cal.day_minutes() * US_PER_MIN
    elif target.business_days is not None or target.same_business_day:
        deadline = wt.business_days_deadline(start, target.business_days or 0)
    elif p.release_date is None:
        j.set_reason(metric, sel, "next release: the policy has no release_date yet")
        return
    else:
        deadline = np.full(len(sel), wt.close_of(p.release_date))
    tgt = deadline - f_start
    if target.next_release:
        j.set_reason(metric, sel[~(tgt > 0)], "opened after the release date's close of business")
    ok = tgt > 0
    breached = business >= tgt
    open_pause = np.bincount(pos, is_pause & (s_raw <= now) & (e_raw > now), minlength=len(sel)) > 0
    never_paused = np.bincount(pos, is_pause, minlength=len(sel)) == 0
    paused_now = ~done & (open_pause | (never_paused & status_pausing[sel]))
    status = np.where(breached, BREACHED, np.where(done, MET, np.where(paused_now, PAUSED, RUNNING)))
    # Exact breach point: push the deadline back by the stopped time that began before the clock
    # had used up its target. Segments are in time order per ticket, so the clock time used when
    # a stop began is its F position minus the start minus the stops before it.
    csum = np.cumsum(seg_len)
    first_of = np.searchsorted(pos, pos, side="left")
    earlier = csum - seg_len - (csum[first_of] - seg_len[first_of])
    used = fs - f_start[pos] - earlier
    shift = np.bincount(pos, seg_len * (used < tgt[pos]), minlength=len(sel))
    breach = np.where((status == BREACHED) | (status == RUNNING), wt.inverse(deadline + shift), np.nan)
    for key, val in (("target", tgt), ("business", business), ("calendar", ce - start), ("status", status),
                     ("breach", breach), ("start", start), ("end", np.where(done, ev, np.nan))):
        r[key][sel[ok]] = val[ok]
