"""Property: both SLA clocks of random tickets agree with a minute-by-minute simulation.

Random calendars (evening and weekend spans, DST zones, holidays), random histories (work, a
hold matched by the pause patterns, waits with a pause_reason, resolved stretches and reopens,
a final resolution the export re-stamps later), optional acknowledgement, random as_of, targets
in minutes or business days. The simulation walks every UTC minute and applies the rules as
docs/sla.md states them; it shares no code with the engine.
"""

from __future__ import annotations

import math
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.sla.engine import evaluate
from analytics.sla.policy import PauseReasons, Policy, Target
from analytics.store import db
from tests.test_business_time import ANCHORS, calendars
from tests.test_sla_engine import add

pytestmark = pytest.mark.slow  # ./test.sh's quick run leaves it out; --all and CI run it

# status → pause_reason; "On Hold" pauses by the default pattern, the waits by their reason.
STATUSES = {"Active": None, "On Hold": None, "Wait - User": "user", "Wait - Internal": "internal",
            "Resolved": None, "Closed": None}
DONE = ("Resolved", "Closed")


@st.composite
def tickets(draw):
    opened = draw(st.sampled_from(ANCHORS)) + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
    gaps = draw(st.lists(st.integers(1, 1500), min_size=0, max_size=6))
    states = draw(st.lists(st.sampled_from(list(STATUSES)), min_size=len(gaps), max_size=len(gaps)))
    events, t = [(opened, "New")], opened
    for gap, status in zip(gaps, states):
        t += timedelta(minutes=gap)
        events.append((t, status))
    ack = draw(st.none() | st.integers(0, 3000).map(lambda k: opened + timedelta(minutes=k)))
    as_of = opened + timedelta(minutes=draw(st.integers(1, 9000)))
    restamp = timedelta(minutes=draw(st.integers(0, 3000)))
    return opened, events, ack, as_of, restamp


# A target in minutes or business days, or "exactly the business time the clock ends up with"
# (the boundary the breach rule decides: a clock that reaches its target as it stops).
KINDS = st.integers(1, 900).map(lambda v: ("minutes", v)) | st.integers(1, 3).map(lambda v: ("business_days", v)) \
    | st.just(("boundary", None))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar=calendars(), ticket=tickets(), kinds=st.tuples(KINDS, KINDS),
       response_reasons=st.lists(st.sampled_from(["user", "internal"]), unique=True))
def test_clocks_match_a_minute_by_minute_simulation(calendar, ticket, kinds, response_reasons):
    opened, events, ack, as_of, restamp = ticket
    reasons = PauseReasons(response=response_reasons)
    walked = walk(calendar, reasons, opened, events, ack, as_of)
    goals = []
    for m, (kind, value) in zip(("response", "resolution"), kinds):
        if kind == "boundary":
            kind, value = "minutes", max(len(walked[m].get("counted", ())), 1)
        goals.append(Target(severity="SEV-3", metric=m, calendar=calendar.name, **{kind: value}))
    pol = Policy(version="p", calendars=[calendar], targets=goals, pause_reasons=reasons)
    resolved = events[-1][1] in DONE
    con = db.connect(":memory:")
    con.execute("ALTER TABLE status_history ADD COLUMN IF NOT EXISTS pause_reason VARCHAR")
    add(con, {"external_id": "x", "severity": "SEV-3", "opened_at": opened, "acknowledged_at": ack,
              "status_category": "resolved" if resolved else "open", "status": events[-1][1],
              "resolved_at": events[-1][0] + restamp if resolved else None},
        history=[("x", t, s) for t, s in events])
    con.execute("UPDATE status_history SET pause_reason = CASE status WHEN 'Wait - User' THEN 'user' "
                "WHEN 'Wait - Internal' THEN 'internal' END")
    row = evaluate(con, as_of=as_of, policies=[pol]).iloc[0]
    for m in ("response", "resolution"):
        want = judged(walked[m], pol.target("SEV-3", m), calendar)
        assert row[f"{m}_status"] == want["status"], m
        if want["status"] == "not applicable":
            continue
        assert row[f"{m}_business_minutes"] == len(walked[m]["counted"]), m
        assert row[f"{m}_target_minutes"] == pytest.approx(want["target"]), m
        if want["status"] == "breached":  # µs rounding of a fractional working-day length aside
            assert abs(row[f"{m}_breach_at"] - pd.Timestamp(want["reached"])) <= pd.Timedelta(microseconds=1), m
        stopped = row[f"{m}_stopped_at"]
        assert (pd.isna(stopped) and walked[m]["end"] is None) or stopped == walked[m]["end"], m
    if walked["resolution"]["applies"]:
        assert row["paused_minutes"] == walked["resolution"]["paused"]


def walk(calendar, reasons: PauseReasons, opened, events, ack, as_of) -> dict:
    """Per clock, the rules of docs/sla.md one UTC minute at a time: the minutes it counted
    (their start instants), the working minutes it was paused, where it stopped (None: open at
    as_of), and whether it was paused at as_of."""
    tz, spans, off = ZoneInfo(calendar.timezone), {i: calendar.spans(i) for i in range(7)}, set(calendar.custom_holidays)
    # The resolution: the first event of the resolved/closed run the history ends in.
    k = len(events)
    while k > 0 and events[k - 1][1] in DONE:
        k -= 1
    resolution = events[k][0] if k < len(events) else None
    res_end = resolution if resolution is not None and resolution <= as_of else None
    known_ack = ack if ack is not None and ack <= as_of else None
    ends = {"resolution": res_end,
            "response": None if known_ack is None else min(known_ack, resolution or known_ack)}

    def status_at(t):
        return [s for when, s in events if when <= t][-1]

    def pauses(status, metric):
        reason = STATUSES.get(status)
        return status == "On Hold" or (reason is not None and reason in reasons.of(metric))

    out = {}
    for metric in ("response", "resolution"):
        if metric == "response" and known_ack is None and res_end is not None:
            out[metric] = {"applies": False}  # resolved without an acknowledgement
            continue
        stop = ends[metric] or as_of
        counted, paused, t = [], 0, opened
        while t < stop:
            local = t.replace(tzinfo=timezone.utc).astimezone(tz)
            minute = local.hour * 60 + local.minute
            working = local.date() not in off and any(a <= minute < b for a, b in spans[local.weekday()])
            status = status_at(t)
            if working and status in DONE:
                pass  # sat resolved before a reopen: the clock stands still
            elif working and pauses(status, metric):
                paused += 1
            elif working:
                counted.append(t)
            t += timedelta(minutes=1)
        out[metric] = {"applies": True, "counted": counted, "paused": paused, "end": ends[metric],
                       "paused_now": pauses(status_at(as_of), metric)}
    return out


def judged(w: dict, target: Target, calendar) -> dict:
    """Status, target and breach instant of a walked clock: breached once the count reaches the
    target (the instant it does is breach_at), whether or not the clock has stopped."""
    if not w["applies"]:
        return {"status": "not applicable"}
    worked = [sum(b - a for a, b in calendar.spans(d)) for d in range(7)]
    goal = target.minutes if target.minutes is not None else target.business_days * sum(worked) / sum(map(bool, worked))
    i = math.ceil(goal) - 1  # the minute during which the count reaches the goal
    if i < len(w["counted"]):
        return {"status": "breached", "target": goal, "reached": w["counted"][i] + timedelta(minutes=goal - i)}
    state = "met" if w["end"] is not None else "paused" if w["paused_now"] else "running"
    return {"status": state, "target": goal}
