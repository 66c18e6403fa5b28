"""SLA rules of issue #12 on crafted tickets: the resolution instant from the history, the breach
at the deadline instant, business days as a duration, no acknowledgement no response, pause
reasons per clock, and one exclusion list shared with the KPIs.

Seed policy, business calendar Mon–Fri 09:00–17:00 UTC; 2026-09-14 is a Monday. Expected
numbers are worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.sla.breakdown import describe_paused_by, not_measured, paused_by
from analytics.sla.calendar import Calendar
from analytics.sla.engine import evaluate
from analytics.sla.policy import PauseReasons, Target, policy_from_toml
from analytics.sla.timeline import ticket_timeline
from analytics.store.exclusions import ACK_EXCLUSIONS, RESOLVE_EXCLUSIONS
from tests.test_sla_engine import NAT, POLICY, T0, add, check, m, run


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-09-<day> hh:mm UTC (14 = Monday)."""
    return datetime(2026, 9, day, hour, minute)


def with_reason_columns(con) -> None:
    """The pause_reason columns ingest adds (VARCHAR, NULL when not a waiting state)."""
    con.execute("ALTER TABLE status_history ADD COLUMN IF NOT EXISTS pause_reason VARCHAR")
    con.execute("ALTER TABLE tickets ADD COLUMN IF NOT EXISTS pause_reason VARCHAR")


# --- 1. the resolution instant --------------------------------------------------------------


def test_a_restamped_resolved_at_does_not_move_the_clock(con):
    # ServiceNow re-stamps resolved_at on a later update: the history says resolved at +18 min.
    add(con, {"external_id": "x", "severity": "SEV-3", "opened_at": T0, "acknowledged_at": m(5),
              "resolved_at": m(24 * 60 + 8), "status_category": "closed"},
        history=[("x", T0, "New"), ("x", m(18), "Resolved"), ("x", m(24 * 60 + 8), "Resolved"),
                 ("x", m(6 * 24 * 60), "Closed")])
    check(run(con, as_of=m(10 * 24 * 60))["x"], resolution_business_minutes=18.0, resolution_stopped_at=m(18),
          resolution_calendar_minutes=18.0, resolution_status="met")
    tl = ticket_timeline(con, "t:x", m(10 * 24 * 60), [POLICY])
    assert (tl["resolution_time"]["used"], tl["resolution_time"]["source"], tl["resolution_time"]["reported"]) == (
        m(18), "history", m(24 * 60 + 8))


def test_each_reopen_cycle_has_its_own_resolution(con):
    # SEV-1 (4 h, 24x7): resolved at 100, reopened at 1000, resolved for good at 1030; the
    # export says 5000 (its close). Clock: 100 + 30; the 900 minutes it sat resolved don't count.
    add(con, {"external_id": "r", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(5), "resolved_at": m(5000),
              "status_category": "closed"},
        history=[("r", T0, "New"), ("r", m(5), "Active"), ("r", m(100), "Resolved"), ("r", m(1000), "Active"),
                 ("r", m(1030), "Resolved"), ("r", m(5000), "Closed")])
    check(run(con, as_of=m(6000))["r"], resolution_business_minutes=130.0, resolution_stopped_at=m(1030),
          resolution_status="met")
    latest = [POLICY.model_copy(update={"ever_breached": False})]
    check(run(con, as_of=m(6000), policies=latest)["r"], resolution_business_minutes=30.0)
    tl = ticket_timeline(con, "t:r", m(6000), [POLICY])
    assert tl["resolved_segments"] == [{"start": m(100), "end": m(1000), "status": "Resolved"}]


def test_same_instant_events_are_ordered_by_seq(con):
    # Resolved and re-activated in the same minute, then resolved again: seq decides the order.
    add(con, {"external_id": "s", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(1), "resolved_at": m(90),
              "status_category": "resolved"},
        history=[("s", T0, "New"), ("s", m(30), "Resolved"), ("s", m(30), "Active"), ("s", m(60), "Resolved")])
    check(run(con, as_of=m(500))["s"], resolution_stopped_at=m(60), resolution_business_minutes=60.0)


def test_history_that_does_not_end_resolved_falls_back_to_the_export(con):
    add(con, {"external_id": "h", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(5), "resolved_at": m(200),
              "status_category": "closed"},
        history=[("h", T0, "New"), ("h", m(5), "Active")])
    check(run(con, as_of=m(500))["h"], resolution_stopped_at=m(200), resolution_business_minutes=200.0)
    why = ticket_timeline(con, "t:h", m(500), [POLICY])["resolution_time"]
    assert why["source"] == "export" and "does not end in a resolved/closed status" in why["why"]


def test_the_profile_status_map_decides_what_reads_as_resolved(con):
    # The help desk profile maps "Resolve SW anomaly" to open: a step of the work, not a resolution.
    con.execute("INSERT INTO datasets (dataset_id, file_name, sha256, source, profile_toml, uploaded_at, rows_read, "
                "rows_loaded, rows_rejected, tickets_inserted, tickets_updated, tickets_unchanged) VALUES "
                "(7, 'h.csv', 'x', 't', ?, ?, 4, 4, 0, 1, 0, 0)",
                ['[status_map]\n"Resolve SW anomaly" = "open"\n', T0])
    add(con, {"external_id": "a", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(5), "resolved_at": m(300),
              "status_category": "closed"},
        history=[("a", T0, "New"), ("a", m(60), "Resolve SW anomaly"), ("a", m(200), "Resolve ticket"),
                 ("a", m(300), "Closed")])
    con.execute("UPDATE status_history SET dataset_id = 7")
    check(run(con, as_of=m(500))["a"], resolution_stopped_at=m(200), resolution_business_minutes=200.0)


# --- 2. breach at the deadline instant ------------------------------------------------------


@pytest.mark.parametrize("resolved, status", [
    (at(16, 16, 59), "met"),  # a minute before the deadline
    (at(16, 17), "breached"),  # at the deadline instant
    (at(16, 18, 30), "breached"),  # the business clock stood still since 17:00, but the deadline passed
])
def test_a_clock_stopping_at_or_after_breach_at_is_breached(con, resolved, status):
    # SEV-3: 3 business days = 1,440 business minutes from Mon 09:00 → Wed 17:00.
    add(con, {"external_id": "x", "severity": "SEV-3", "opened_at": at(14, 9), "acknowledged_at": at(14, 9, 30),
              "resolved_at": resolved, "status_category": "resolved"})
    row = run(con, as_of=at(20, 0))["x"]
    check(row, resolution_status=status, resolution_target_minutes=1440.0)
    if status == "breached":
        check(row, resolution_breach_at=at(16, 17), resolution_business_minutes=1440.0)


def test_paused_after_the_deadline_out_of_hours_is_breached(con):
    # INC0030500's case: still open at Wed 17:00 (the deadline), put on hold at 19:00, resolved
    # much later. 1,440 business minutes had run when the hold began: breached at 17:00.
    add(con, {"external_id": "p", "severity": "SEV-3", "opened_at": at(14, 9), "acknowledged_at": at(14, 9, 30),
              "resolved_at": at(25, 12), "status_category": "resolved"},
        history=[("p", at(14, 9), "New"), ("p", at(16, 19), "Awaiting User Info"), ("p", at(25, 12), "Resolved")])
    check(run(con, as_of=at(28, 0))["p"], resolution_status="breached", resolution_breach_at=at(16, 17),
          resolution_business_minutes=1440.0)
    # ...and while it was on hold, before anyone resolved it, it already read breached, not paused.
    check(run(con, as_of=at(17, 10))["p"], resolution_status="breached", resolution_stopped_at=NAT)


# --- 3. business days -----------------------------------------------------------------------


@pytest.mark.parametrize("opened, deadline", [
    (at(14, 7), at(16, 17)),  # before opening: Mon 09:00 + 3 × 8 h = Wed 17:00, not Thu
    (at(12, 10), at(16, 17)),  # Saturday: the clock starts Mon 09:00 → Wed 17:00
    (at(14, 13), at(17, 13)),  # Mon 13:00 + 24 working hours → Thu 13:00
])
def test_business_days_are_a_duration(con, opened, deadline):
    add(con, {"external_id": "x", "severity": "SEV-3", "opened_at": opened, "acknowledged_at": opened})
    check(run(con, as_of=opened + timedelta(minutes=1))["x"], resolution_target_minutes=1440.0,
          resolution_breach_at=deadline)


def test_end_of_day_rule_is_kept_as_an_option(con):
    eod = [t.model_copy(update={"business_days_rule": "end_of_day"}) if t.business_days else t for t in POLICY.targets]
    policy = POLICY.model_copy(update={"targets": eod})
    add(con, {"external_id": "x", "severity": "SEV-3", "opened_at": at(14, 7), "acknowledged_at": at(14, 7)})
    # Close of business on the third working day after Monday: Thu 17:00, 4 × 480 minutes.
    check(run(con, as_of=at(14, 8), policies=[policy])["x"], resolution_target_minutes=1920.0,
          resolution_breach_at=at(17, 17))


def test_working_day_length_of_an_uneven_week():
    short_friday = Calendar(name="t", hours={**{d: [("09:00", "12:00"), ("13:00", "17:00")] for d in ("mon", "tue", "wed", "thu")},
                                             "fri": [("09:00", "13:00")]})
    assert short_friday.day_minutes() == (4 * 420 + 240) / 5


def test_old_saved_policies_load_with_the_new_defaults():
    old = 'version = "2025"\n[[calendars]]\nname = "office"\n[calendars.hours]\nmon = [["09:00", "17:00"]]\n' \
          '[[targets]]\nseverity = "SEV-3"\nmetric = "resolution"\ncalendar = "office"\nbusiness_days = 2\n'
    p = policy_from_toml(old)
    assert p.targets[0].business_days_rule is None and not p.targets[0].end_of_day
    assert p.pause_reasons == PauseReasons(response=[], resolution=["customer", "vendor", "user"])
    eod = p.model_copy(update={"targets": [p.targets[0].model_copy(update={"business_days_rule": "end_of_day"})]})
    assert 'business_days_rule = "end_of_day"' in eod.to_toml() and policy_from_toml(eod.to_toml()) == eod
    with pytest.raises(ValueError, match="business_days_rule applies to business_days targets only"):
        Target(severity="SEV-1", metric="response", minutes=10, business_days_rule="end_of_day")


# --- 4. no acknowledgement, no response SLA ---------------------------------------------------


def test_acknowledged_after_the_resolution_stops_at_the_resolution(con):
    add(con, {"external_id": "late", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(90), "resolved_at": m(10),
              "status_category": "resolved"})
    check(run(con, as_of=m(100))["late"], response_status="met", response_stopped_at=m(10),
          response_business_minutes=10.0)


# --- 5. pause reasons per clock ---------------------------------------------------------------


def _waits(con) -> None:
    """SEV-2 tickets (30 min response, 8 h resolution, 24x7), each waiting 60 minutes from +10:
    "u" on the user (reason 'User', any case), "i" on an internal step; "n" opened on hold
    without any history."""
    with_reason_columns(con)
    add(con, {"external_id": "u", "severity": "SEV-2", "opened_at": T0, "resolved_at": m(300), "acknowledged_at": m(100),
              "status_category": "resolved"},
        {"external_id": "i", "severity": "SEV-2", "opened_at": T0, "resolved_at": m(300), "acknowledged_at": m(100),
         "status_category": "resolved"},
        {"external_id": "n", "severity": "SEV-2", "opened_at": T0, "acknowledged_at": m(5), "status": "Accepted-Wait"},
        history=[("u", T0, "Queued"), ("u", m(10), "Accepted-Wait - User"), ("u", m(70), "Accepted-In Progress"),
                 ("u", m(300), "Completed-Resolved"),
                 ("i", T0, "Queued"), ("i", m(10), "Accepted-Wait - Implementation"), ("i", m(70), "Accepted-In Progress"),
                 ("i", m(300), "Completed-Resolved")])
    con.execute("UPDATE status_history SET pause_reason = CASE status WHEN 'Accepted-Wait - User' THEN 'User' "
                "WHEN 'Accepted-Wait - Implementation' THEN 'internal' END")
    con.execute("UPDATE tickets SET pause_reason = 'customer' WHERE external_id = 'n'")


def test_pause_reasons_stop_the_clocks_the_policy_lists(con):
    _waits(con)
    r = run(con, as_of=m(400))
    # Default: a user wait stops the resolution clock only; the response ran through it.
    check(r["u"], resolution_business_minutes=240.0, paused_minutes=60.0, response_business_minutes=100.0)
    check(r["i"], resolution_business_minutes=300.0, paused_minutes=0.0)  # 'internal' is not listed
    check(r["n"], resolution_status="paused")  # no history: its own pause_reason says it waits
    both = POLICY.model_copy(update={"pause_reasons": PauseReasons(response=["user"], resolution=["user", "internal"])})
    r = run(con, as_of=m(400), policies=[both])
    check(r["u"], response_business_minutes=40.0, response_status="breached", resolution_business_minutes=240.0)
    check(r["i"], resolution_business_minutes=240.0)
    table = paused_by(con, as_of=m(400), policies=[both]).set_index(["clock", "status"])
    assert table.loc[("resolution", "Accepted-Wait - User"), "hours"] == 1.0
    assert table.loc[("response", "Accepted-Wait - User"), "tickets"] == 1
    assert "Accepted-Wait - User (user) 1 h on 1 ticket" in describe_paused_by(table.reset_index())


def test_pause_statuses_still_apply_and_work_without_the_reason_columns(con):
    add(con, {"external_id": "w", "severity": "SEV-2", "opened_at": T0, "resolved_at": m(300), "acknowledged_at": m(5),
              "status_category": "resolved"},
        history=[("w", T0, "New"), ("w", m(10), "Waiting for customer"), ("w", m(70), "In Progress"),
                 ("w", m(300), "Resolved")])
    check(run(con, as_of=m(400))["w"], resolution_business_minutes=240.0, paused_minutes=60.0)
    assert paused_by(con, as_of=m(400), policies=[POLICY], per_ticket=True).to_dict("records") == [
        {"ticket_id": "t:w", "clock": "resolution", "status": "Waiting for customer", "pause_reason": None,
         "minutes": 60.0}]


def test_timeline_names_what_paused_which_clock(con):
    _waits(con)
    tl = ticket_timeline(con, "t:u", m(400), [POLICY])
    assert [(p["status"], p["reason"], p["clocks"]) for p in tl["pause_segments"]] == [
        ("Accepted-Wait - User", "user", ["resolution"])]
    assert tl["paused_by"] == [{"clock": "resolution", "status": "Accepted-Wait - User", "reason": "user", "minutes": 60.0}]
    # The response clock counted straight through the wait: one running segment, 0 → 100.
    assert [(s["start"], s["end"]) for s in tl["running_segments"]["response"]] == [(T0, m(100))]


# --- 6. one exclusion list per ticket ---------------------------------------------------------


def test_mttr_exclusions_leave_both_clocks_with_the_kpi_label(con):
    add(con, {"external_id": "zero", "severity": "SEV-2", "opened_at": T0, "resolved_at": T0, "status_category": "closed"},
        {"external_id": "back", "severity": "SEV-2", "opened_at": T0, "acknowledged_at": m(1), "resolved_at": m(-5),
         "status_category": "closed"},
        {"external_id": "ack", "severity": "SEV-2", "opened_at": T0, "acknowledged_at": m(-1), "resolved_at": m(60),
         "status_category": "closed"})
    r = run(con, as_of=m(100))
    labels = {x.condition_sql: x.label for x in (*RESOLVE_EXCLUSIONS, *ACK_EXCLUSIONS)}
    for key, cond in (("zero", "resolved_at = opened_at"), ("back", "resolved_at < opened_at")):
        check(r[key], response_status="not applicable", resolution_status="not applicable",
              response_reason=labels[cond], resolution_reason=labels[cond])
    check(r["ack"], response_status="not applicable", response_reason=labels["acknowledged_at < opened_at"],
          resolution_status="met")
    counts = not_measured(evaluate(con, as_of=m(100), policies=[POLICY]))
    assert counts[counts.clock == "response"].set_index("reason")["tickets"].to_dict() == {
        labels["resolved_at = opened_at"]: 1, labels["resolved_at < opened_at"]: 1, labels["acknowledged_at < opened_at"]: 1}


def test_not_measured_counts_every_reason(con):
    add(con, {"external_id": "a", "severity": "SEV-2", "opened_at": T0, "resolved_at": m(20), "status_category": "resolved"},
        {"external_id": "b", "severity": "SEV-2", "opened_at": T0, "resolved_at": m(40), "status_category": "resolved"},
        {"external_id": "c", "severity": None, "opened_at": T0})
    got = not_measured(evaluate(con, as_of=m(100), policies=[POLICY]))
    assert got.to_dict("records") == [
        {"clock": "resolution", "reason": "no severity mapped", "tickets": 1},
        {"clock": "response", "reason": "no acknowledgement recorded", "tickets": 2},
        {"clock": "response", "reason": "no severity mapped", "tickets": 1}]


def test_a_resolved_status_matching_a_pause_pattern_is_a_resolved_stretch(con):
    # "Pending closure" reads as closed (resolved, awaiting the caller's confirmation) and also
    # matches "Pending*": it is time sat resolved, not a pause, so paused_minutes stays 0.
    add(con, {"external_id": "c", "severity": "SEV-1", "opened_at": T0, "acknowledged_at": m(5), "resolved_at": m(200),
              "status_category": "resolved"},
        history=[("c", T0, "New"), ("c", m(50), "Pending closure"), ("c", m(80), "Active"), ("c", m(200), "Resolved")])
    check(run(con, as_of=m(300))["c"], resolution_business_minutes=170.0, paused_minutes=0.0)
