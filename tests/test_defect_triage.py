"""Defect triage: each target at its boundary, the business-day rule around closing time,
weekends and holidays, scheduling of Medium/Low, exclusions, the tag split; and on the demo
data an independent computation with zoneinfo and the holidays package."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pandas as pd
import pytest

from analytics.governance import defect_triage as dt
from analytics.sla.calendar import Calendar
from analytics.sla.policy import Target, business_calendar, default_policy, save_policy
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

M = timedelta(minutes=1)
H = timedelta(hours=1)
T = datetime(2026, 11, 25, 10)  # a Wednesday
FRI = datetime(2026, 11, 27)  # Monday 30 Nov is a holiday in the test calendar
AS_OF = datetime(2026, 12, 10, 12)
CAL = business_calendar("UTC").model_copy(update={"custom_holidays": [date(2026, 11, 30)]})


def _policy(con, **update):
    save_policy(con, default_policy("UTC").model_copy(update={"version": "t", "calendars": [CAL], **update}),
                local_operator("t"))


def _d(con, tid, severity, opened, ack=None, resolved=None, **kw):
    status = kw.pop("status_category", "resolved" if resolved else "open")
    row = {"ticket_id": f"t:{tid}", "source": "t", "external_id": tid, "type": kw.pop("type", "defect"),
           "severity": severity, "status_category": status, "opened_at": opened, "acknowledged_at": ack,
           "resolved_at": resolved, **kw}
    con.execute(f"INSERT INTO tickets ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


@pytest.fixture
def crafted(con):
    _policy(con)
    _d(con, "c-met", "SEV-1", T, T + 60 * M, T + 24 * H)  # exactly at both targets: met
    _d(con, "c-late", "SEV-1", T, T + 61 * M, T + 24 * H + M)
    _d(con, "c-res", "SEV-1", T, None, T + 50 * M)  # resolved without an ack: the resolution acknowledges
    _d(con, "c-open", "SEV-1", T)  # never acknowledged, still open: both missed, breached
    _d(con, "h-close", "SEV-2", FRI + 16 * H + 59 * M, FRI + 17 * H, FRI + 72 * H + 16 * H + 59 * M)
    _d(con, "h-late", "SEV-2", FRI + 16 * H + 59 * M, FRI + 17 * H + M, FRI + 72 * H + 17 * H)
    _d(con, "h-after", "SEV-2", FRI + 17 * H + 30 * M, datetime(2026, 12, 1, 16, 59))  # due Tue 17:00 (Mon holiday)
    _d(con, "h-sat", "SEV-2", FRI + 30 * H, datetime(2026, 12, 2, 9))  # Saturday → due Tue 17:00: missed Wed
    _d(con, "h-early", "SEV-2", FRI + 8 * H, FRI + 16 * H)  # before opening: due that Friday 17:00
    _d(con, "m-rel", "SEV-3", T, target_release="Sprint 14")
    _d(con, "m-due", "SEV-3", T, due_at=datetime(2026, 12, 20))
    _d(con, "m-none", "SEV-3", T, target_release="  ")  # blank is not a schedule
    _d(con, "l-fixed", "SEV-4", T, T + H, T + 5 * H)  # resolved: needs no schedule
    _d(con, "x-cancel", "SEV-1", T, status_category="cancelled")
    _d(con, "x-nosev", None, T)
    _d(con, "x-future", "SEV-2", AS_OF + H)
    _d(con, "x-lost", "SEV-1", T, status_category="closed")  # closed, no times: not measurable
    _d(con, "inc", "SEV-1", T, type="incident")  # not a defect
    return con


EXPECTED = {  # ticket: (class, ack_met, fix_met, schedule_met, open)
    "c-met": ("Critical", True, True, None, False),
    "c-late": ("Critical", False, False, None, False),
    "c-res": ("Critical", True, True, None, False),
    "c-open": ("Critical", False, False, None, True),
    "h-close": ("High", True, True, None, False),
    "h-late": ("High", False, False, None, False),
    # still open on 10 Dec, long after their 72 h fix deadlines: fix missed
    "h-after": ("High", True, False, None, True),
    "h-sat": ("High", False, False, None, True),
    "h-early": ("High", True, False, None, True),
    "m-rel": ("Medium", None, None, True, True),
    "m-due": ("Medium", None, None, True, True),
    "m-none": ("Medium", None, None, False, True),
    "l-fixed": ("Low", None, None, None, False),
    "x-lost": ("Critical", None, None, None, False),
}


def test_evaluate_boundaries(crafted):
    got = dt.evaluate(crafted, Filters(), AS_OF).set_index("external_id")
    assert "inc" not in got.index and len(got) == 17
    for tid, (cls, ack, fix, sched, is_open) in EXPECTED.items():
        row = got.loc[tid]
        assert (row["class"], row["ack_met"], row["fix_met"], row["schedule_met"], row["open"]) == \
            (cls, ack, fix, sched, is_open), tid
    assert got.loc["h-after", "ack_due_at"] == datetime(2026, 12, 1, 17)
    assert got.loc["h-sat", "ack_due_at"] == datetime(2026, 12, 1, 17)
    assert got.loc["h-close", "ack_due_at"] == FRI + 17 * H
    assert got.loc["h-early", "ack_due_at"] == FRI + 17 * H
    assert got.loc["c-met", "ack_due_at"] == T + H and got.loc["c-met", "fix_due_at"] == T + 24 * H
    assert got.loc["h-close", "fix_due_at"] == FRI + 16 * H + 59 * M + 72 * H
    assert got.loc["x-cancel", "excluded"] == "cancelled" and got.loc["x-nosev", "excluded"] == "no severity mapped"
    assert got.loc["x-future", "excluded"] == "opened after the as-of time"
    assert got.loc["x-cancel", "ack_met"] is None and got.loc["c-met", "excluded"] is None
    assert not got.loc["m-none", "scheduled"] and got.loc["m-rel", "scheduled"]


def test_not_yet_due_is_neither_met_nor_missed(crafted):
    early = dt.evaluate(crafted, Filters(), T + 30 * M).set_index("external_id")
    assert early.loc["c-open", "ack_met"] is None and early.loc["c-open", "fix_met"] is None
    assert early.loc["c-late", "ack_met"] is None  # its ack at 61 min had not happened yet
    assert early.loc["c-late", "open"]


def test_summary_per_class(crafted):
    s = dt.summary(crafted, Filters(), AS_OF).set_index("class")
    crit, high, med, low = (s.loc[c] for c in ("Critical", "High", "Medium", "Low"))
    # Critical: met c-met, c-res; missed c-late, c-open (x-lost not measurable)
    assert (crit["defects"], crit["open"], crit["ack_met"], crit["ack_missed"]) == (5, 1, 2, 2)
    assert crit["ack_met_pct"] == pytest.approx(50.0) and crit["fix_met_pct"] == pytest.approx(50.0)
    assert crit["breached_open"] == 1 and crit["scheduled_pct"] is None
    assert crit["excluded"] == [("cancelled", 1)]
    # High: ack met h-close, h-after, h-early; missed h-late, h-sat. Fix met h-close; missed the rest.
    assert (high["ack_met"], high["ack_missed"], high["fix_met"], high["fix_missed"]) == (3, 2, 1, 4)
    assert high["breached_open"] == 3 and high["excluded"] == [("opened after the as-of time", 1)]
    assert med["scheduled_pct"] == pytest.approx(200 / 3) and med["breached_open"] == 1
    assert med["ack_met_pct"] is None and med["fix_met_pct"] is None
    assert low["scheduled_pct"] is None and low["defects"] == 1 and low["open"] == 0
    assert s.loc["no severity", "excluded"] == [("no severity mapped", 1)]


def test_same_business_day_follows_the_policys_defect_calendar(con):
    late = Calendar(name="support", timezone="Europe/Berlin", hours={d: [("08:00", "20:00")]
                                                                    for d in ("mon", "tue", "wed", "thu", "fri")})
    targets = [t for t in default_policy("UTC").targets if not (t.severity == "SEV-2" and t.ticket_type == "defect"
                                                                 and t.metric == "response")]
    targets.append(Target(severity="SEV-2", ticket_type="defect", metric="response", same_business_day=True,
                          calendar="support"))
    _policy(con, calendars=[CAL, late], targets=targets)
    _d(con, "h", "SEV-2", FRI + 17 * H + 30 * M, FRI + 18 * H + 59 * M)  # 18:30 Berlin; closes 20:00 = 19:00 UTC
    row = dt.evaluate(con, Filters(), AS_OF).iloc[0]
    assert row["ack_due_at"] == FRI + 19 * H and row["ack_met"] is True


def test_tag_split(crafted):
    _d(crafted, "e1", "SEV-4", T, type="enhancement", target_release="R2")
    _d(crafted, "e2", "SEV-4", T, T + H, T + 2 * H, type="enhancement")
    _d(crafted, "q1", None, T, type="question", status_category="cancelled")
    got = dt.tag_split(crafted, Filters(), AS_OF).set_index("tag")
    assert list(got.index) == ["bug", "enhancement", "question"]
    cols = ["tickets", "open", "resolved", "cancelled", "open_scheduled"]
    # bugs opened by the as-of time: 16 (x-future opens after it); open: c-open h-after h-sat
    # h-early m-rel m-due m-none x-nosev = 8; resolved: c-met c-late c-res h-close h-late l-fixed
    # and x-lost (closed without a time) = 7; cancelled: x-cancel
    assert got.loc["bug", cols].tolist() == [16, 8, 7, 1, 2]
    assert got.loc["enhancement", cols].tolist() == [2, 1, 1, 0, 1]
    assert got.loc["question", cols].tolist() == [1, 0, 0, 1, 0]
    assert dt.tag_split(crafted, Filters(type=("incident",)), AS_OF)["tickets"].tolist() == [0, 0, 0]
    # Half an hour after T, read at that moment: what was open then, not what is open now
    # (c-met, c-res and l-fixed were resolved later that day).
    early = dt.tag_split(crafted, Filters(), T + 30 * M).set_index("tag")
    assert early.loc["bug", cols].tolist() == [11, 9, 1, 1, 2]
    assert early.loc["enhancement", cols].tolist() == [2, 2, 0, 0, 1]


def test_targets_are_declared_once_with_text():
    assert [t.severity for t in dt.TARGETS] == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    assert "acknowledge within 1 h" in dt.DEFINITION and "fix within 3 days (72 h)" in dt.DEFINITION
    assert dt.TARGETS[0].fix_target == "fix within 1 day (24 h)" and dt.TARGETS[2].ack_target is None
    assert dt._duration(120) == "2 h" and dt._duration(90) == "90 min"


def test_empty_store(con):
    assert dt.evaluate(con, Filters(), AS_OF).empty
    s = dt.summary(con, Filters(), AS_OF)
    assert s["defects"].tolist() == [0, 0, 0, 0] and s["ack_met_pct"].tolist() == [None] * 4


# --- demo data: an independent computation --------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_file):
    con = db.connect(demo_file)
    yield con
    con.close()


def _close_of_business(opened: datetime) -> datetime:
    """Plain-Python reading of the demo calendar: New York, Mon–Fri 09:00–17:00, US holidays."""
    tz, off = ZoneInfo("America/New_York"), holidays.country_holidays("US", years=range(2025, 2028))
    local = opened.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    day = local.date()
    if local.time() >= time(17) or day.weekday() >= 5 or day in off:
        day += timedelta(days=1)
        while day.weekday() >= 5 or day in off:
            day += timedelta(days=1)
    return datetime.combine(day, time(17), tz).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def test_demo_matches_an_independent_computation(demo):
    as_of = datetime(2026, 11, 20, 12)
    t = demo.execute("SELECT * FROM tickets WHERE type = 'defect' AND status_category <> 'cancelled' "
                     "AND opened_at <= ? AND severity IS NOT NULL", [as_of]).df()
    t = t.assign(resolved=t["resolved_at"].where(t["resolved_at"] <= as_of))
    ack = t["acknowledged_at"].where(t["acknowledged_at"] <= as_of)
    t["ack"] = ack.where(t["acknowledged_at"].notna(), t["resolved"])
    got = dt.summary(demo, Filters(), as_of).set_index("class")
    for cls, sev in (("Critical", "SEV-1"), ("High", "SEV-2")):
        rows = t[t["severity"] == sev]
        if sev == "SEV-1":
            ack_due = rows["opened_at"] + pd.Timedelta(hours=1)
        else:
            ack_due = rows["opened_at"].map(lambda o: _close_of_business(o.to_pydatetime()))
        fix_due = rows["opened_at"] + pd.Timedelta(hours=24 if sev == "SEV-1" else 72)
        ack_met = (rows["ack"].notna() & (rows["ack"] <= ack_due)).sum()
        ack_missed = ((rows["ack"].notna() & (rows["ack"] > ack_due)) | (rows["ack"].isna() & (as_of > ack_due)
                      & ~(rows["status_category"].isin(["resolved", "closed"]) & rows["resolved_at"].isna()))).sum()
        fix_met = (rows["resolved"].notna() & (rows["resolved"] <= fix_due)).sum()
        assert (got.loc[cls, "defects"], got.loc[cls, "ack_met"], got.loc[cls, "ack_missed"], got.loc[cls, "fix_met"]) \
            == (len(rows), ack_met, ack_missed, fix_met), cls
    for cls, sev in (("Medium", "SEV-3"), ("Low", "SEV-4")):
        rows = t[(t["severity"] == sev) & t["resolved"].isna()
                 & ~(t["status_category"].isin(["resolved", "closed"]) & t["resolved_at"].isna())]
        sched = rows["target_release"].fillna("").str.strip().ne("") | rows["due_at"].notna()
        assert got.loc[cls, "open"] == len(rows) > 0
        assert got.loc[cls, "scheduled_pct"] == pytest.approx(100 * sched.mean())
