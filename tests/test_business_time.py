"""Business-time arithmetic: hand-worked cases, DST days, deadlines, and a brute-force property.

Expected minutes are worked out by hand in the comments. Local wall-clock instants are turned
into naive UTC with zoneinfo here in the test, independently of the engine (which uses pandas).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.sla.business_time import build, business_minutes, from_us, register, scalar_us, working_intervals
from analytics.sla.calendar import WEEKDAYS, Calendar

NY, LONDON, AMSTERDAM = "America/New_York", "Europe/London", "Europe/Amsterdam"
WEEK = WEEKDAYS[:5]


def cal(tz: str = "UTC", days=WEEK, spans=(("09:00", "17:00"),), **kw) -> Calendar:
    return Calendar(name="test", timezone=tz, hours={d: list(spans) for d in days}, **kw)


def at(tz: str, text: str) -> datetime:
    """Local wall-clock time "YYYY-MM-DD HH:MM" in `tz` → naive UTC."""
    local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


US_BUSINESS = cal(NY, country="US")
UK_BUSINESS = cal(LONDON, country="GB", subdivision="ENG")
EVERY_DAY_NY = cal(NY, days=WEEKDAYS)
ROUND_THE_CLOCK_NY = cal(NY, days=WEEKDAYS, spans=(("00:00", "24:00"),))
LUNCH = cal("UTC", spans=(("09:00", "12:00"), ("13:00", "17:00")))
SHORT_FRIDAY = Calendar(name="t", timezone="UTC", hours={**{d: [("09:00", "17:00")] for d in WEEKDAYS[:4]},
                                                         "fri": [("09:00", "13:00")]})

CASES = [
    # Fri 16:00 → Mon 10:00 (New York): 60 on Friday + 60 on Monday; the weekend is not counted.
    ("weekend", US_BUSINESS, at(NY, "2026-09-11 16:00"), at(NY, "2026-09-14 10:00"), 120),
    # Fri 15:00 → Tue 11:00 across Labor Day (Mon 2026-09-07): 120 Fri + 0 Mon + 120 Tue.
    ("us-labor-day", US_BUSINESS, at(NY, "2026-09-04 15:00"), at(NY, "2026-09-08 11:00"), 240),
    # Same times without the holiday calendar: Monday counts, 480 more.
    ("labor-day-without-holidays", cal(NY), at(NY, "2026-09-04 15:00"), at(NY, "2026-09-08 11:00"), 720),
    # Thu 24 Dec 16:00 → Tue 29 Dec 10:00 (London): 60 Thu, Christmas Fri, weekend, Boxing Day
    # observed Mon 28, then 60 on Tue.
    ("uk-christmas", UK_BUSINESS, at(LONDON, "2026-12-24 16:00"), at(LONDON, "2026-12-29 10:00"), 120),
    # Opened Mon 18:00, resolved Tue 08:00: all outside working hours.
    ("outside-hours", US_BUSINESS, at(NY, "2026-09-14 18:00"), at(NY, "2026-09-15 08:00"), 0),
    # Opened Mon 18:00, resolved Wed 07:00: exactly Tuesday's 8 hours.
    ("outside-hours-both-ends", US_BUSINESS, at(NY, "2026-09-14 18:00"), at(NY, "2026-09-16 07:00"), 480),
    ("same-minute", US_BUSINESS, at(NY, "2026-09-14 10:00"), at(NY, "2026-09-14 10:00"), 0),
    # US clocks go forward on Sun 2026-03-08. Fri 16:00 EST → Mon 10:00 EDT: 60 + 60, although
    # the UTC difference (65 h) is an hour shorter than the wall-clock difference (66 h).
    ("us-dst-start-weekend", US_BUSINESS, at(NY, "2026-03-06 16:00"), at(NY, "2026-03-09 10:00"), 120),
    # A 09:00–17:00 working Sunday on the DST day is still 480 minutes.
    ("us-dst-start-day", EVERY_DAY_NY, at(NY, "2026-03-08 00:00"), at(NY, "2026-03-09 00:00"), 480),
    ("us-dst-end-day", EVERY_DAY_NY, at(NY, "2026-11-01 00:00"), at(NY, "2026-11-02 00:00"), 480),
    # A 00:00–24:00 local day is 23 h on the spring-forward day and 25 h on the fall-back day.
    ("us-dst-start-24h", ROUND_THE_CLOCK_NY, at(NY, "2026-03-08 00:00"), at(NY, "2026-03-09 00:00"), 23 * 60),
    ("us-dst-end-24h", ROUND_THE_CLOCK_NY, at(NY, "2026-11-01 00:00"), at(NY, "2026-11-02 00:00"), 25 * 60),
    # 24x7 across the spring-forward night: local 01:00 → 04:00 reads 3 h on the wall clock, but
    # 02:00–03:00 never happens, so only 120 minutes elapse (06:00 → 08:00 UTC).
    ("24x7-spring-forward", None, at(NY, "2026-03-08 01:00"), at(NY, "2026-03-08 04:00"), 120),
    # ...and across the fall-back night 01:00 EDT → 01:00 EST is a full hour that reads 0 h.
    ("24x7-fall-back", None, datetime(2026, 11, 1, 5), datetime(2026, 11, 1, 6), 60),
    # London: clocks go back Sun 2026-10-25. Fri 16:00 BST → Mon 10:00 GMT: 60 + 60.
    ("uk-dst-end-weekend", UK_BUSINESS, at(LONDON, "2026-10-23 16:00"), at(LONDON, "2026-10-26 10:00"), 120),
    # Amsterdam: clocks go forward Sun 2026-03-29; a working Sunday 09–17 is 480.
    ("nl-dst-start-day", cal(AMSTERDAM, days=WEEKDAYS), at(AMSTERDAM, "2026-03-29 00:00"),
     at(AMSTERDAM, "2026-03-30 00:00"), 480),
    # Lunch 12–13 is not working time: 11:00 → 14:00 counts 60 + 60.
    ("lunch-break", LUNCH, datetime(2026, 9, 14, 11), datetime(2026, 9, 14, 14), 120),
    # Opened during lunch, resolved after close: 13:00–17:00 only.
    ("opened-at-lunch", LUNCH, datetime(2026, 9, 14, 12, 30), datetime(2026, 9, 14, 19), 240),
    # Fridays end at 13:00: Thu 16:00 → Mon 10:00 = 60 Thu + 240 Fri + 60 Mon.
    ("short-friday", SHORT_FRIDAY, datetime(2026, 9, 10, 16), datetime(2026, 9, 14, 10), 360),
    # A custom holiday removes its day: Mon 16:00 → Wed 10:00 = 60 + (Tue off) + 60.
    ("custom-holiday", cal("UTC", custom_holidays=[date(2026, 9, 15)]), datetime(2026, 9, 14, 16),
     datetime(2026, 9, 16, 10), 120),
]


@pytest.mark.parametrize("calendar, start, end, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_business_minutes(calendar, start, end, expected):
    assert business_minutes(calendar, start, end)[0] == pytest.approx(expected, abs=1e-9)


def test_seconds_count_exactly():
    # 09:00:00 → 09:00:30 is half a minute; precision is the store's microsecond.
    got = business_minutes(LUNCH, datetime(2026, 9, 14, 9), datetime(2026, 9, 14, 9, 0, 30))[0]
    assert got == 0.5


def test_working_intervals_on_dst_days():
    frame = working_intervals(ROUND_THE_CLOCK_NY, date(2026, 3, 7), date(2026, 3, 9))
    hours = ((frame.end_utc - frame.start_utc).dt.total_seconds() / 3600).tolist()
    # Sat 24 h; Sun 23 h (split at the 02:00 jump into the EST and EDT pieces); Mon 24 h.
    assert hours == [24, 2, 21, 24]
    assert frame.start_utc.iloc[0] == datetime(2026, 3, 7, 5)  # 00:00 EST
    assert frame.end_utc.iloc[-1] == datetime(2026, 3, 10, 4)  # 24:00 EDT
    assert frame.cum_minutes.tolist() == [0, 24 * 60, 26 * 60, 47 * 60]


def test_working_intervals_skip_weekends_and_holidays():
    frame = working_intervals(US_BUSINESS, date(2026, 9, 4), date(2026, 9, 8))  # Fri .. Tue, Mon = Labor Day
    assert frame.start_utc.tolist() == [at(NY, "2026-09-04 09:00"), at(NY, "2026-09-08 09:00")]
    assert frame.cum_minutes.tolist() == [0, 480]


def test_repeated_hour_counts_both_passes():
    # Sun 2026-11-01 00:30–01:30 in New York: 00:30–01:30 EDT (04:30–05:30 UTC) and, after the
    # clocks go back at 02:00 EDT, 01:00–01:30 EST (06:00–06:30 UTC) again: 90 minutes.
    c = Calendar(name="t", timezone=NY, hours={"sun": [("00:30", "01:30")]})
    frame = working_intervals(c, date(2026, 11, 1), date(2026, 11, 1))
    assert list(zip(frame.start_utc, frame.end_utc)) == [
        (datetime(2026, 11, 1, 4, 30), datetime(2026, 11, 1, 5, 30)),
        (datetime(2026, 11, 1, 6, 0), datetime(2026, 11, 1, 6, 30))]


def _deadline(calendar, opened: datetime, days: int) -> datetime:
    wt = build(calendar, opened.date() - timedelta(days=3), opened.date() + timedelta(days=40))
    f = wt.business_days_deadline(np.array([scalar_us(opened)]), days)
    return from_us(wt.inverse(f))[0].astype(datetime)


DEADLINES = [
    # Thu 10:00 + 3 business days: Fri, (Labor Day Mon skipped), Tue, Wed → Wed 17:00.
    ("after-holiday", US_BUSINESS, at(NY, "2026-09-03 10:00"), 3, at(NY, "2026-09-09 17:00")),
    # Same business day, opened after close on Mon: close of Tuesday.
    ("same-day-after-close", US_BUSINESS, at(NY, "2026-09-14 18:00"), 0, at(NY, "2026-09-15 17:00")),
    ("same-day-before-open", US_BUSINESS, at(NY, "2026-09-14 07:00"), 0, at(NY, "2026-09-14 17:00")),
    ("same-day-during-hours", US_BUSINESS, at(NY, "2026-09-14 16:59"), 0, at(NY, "2026-09-14 17:00")),
    # Exactly at close counts as after close.
    ("same-day-at-close", US_BUSINESS, at(NY, "2026-09-14 17:00"), 0, at(NY, "2026-09-15 17:00")),
    # Saturday: the clock starts Monday, one business day later is Tuesday's close.
    ("one-day-from-saturday", US_BUSINESS, at(NY, "2026-09-12 11:00"), 1, at(NY, "2026-09-15 17:00")),
    # Fri 16:00 before Labor Day + 1 business day: Mon is a holiday → Tue close.
    ("one-day-over-holiday", US_BUSINESS, at(NY, "2026-09-04 16:00"), 1, at(NY, "2026-09-08 17:00")),
    # Split hours: close of business is the end of the last span.
    ("lunch-close", LUNCH, datetime(2026, 9, 14, 12, 30), 0, datetime(2026, 9, 14, 17)),
    # UK: Thu 24 Dec + 1 business day → Fri 25, Mon 28 are holidays → Tue 29 close.
    ("uk-christmas", UK_BUSINESS, at(LONDON, "2026-12-24 10:00"), 1, at(LONDON, "2026-12-29 17:00")),
]


@pytest.mark.parametrize("calendar, opened, days, expected", [c[1:] for c in DEADLINES], ids=[c[0] for c in DEADLINES])
def test_business_days_deadline(calendar, opened, days, expected):
    assert _deadline(calendar, opened, days) == expected


def test_inverse_lands_on_close_not_next_opening():
    wt = build(US_BUSINESS, date(2026, 9, 10), date(2026, 9, 20))
    fri_close = scalar_us(at(NY, "2026-09-11 17:00"))
    assert from_us(wt.inverse(wt.F(np.array([fri_close]))))[0] == np.datetime64(at(NY, "2026-09-11 17:00"))
    # One microsecond of work later is Monday's opening.
    later = wt.F(np.array([fri_close])) + 1
    assert from_us(wt.inverse(later))[0] == np.datetime64(at(NY, "2026-09-14 09:00"), "us") + np.timedelta64(1, "us")


# --- property: the engine agrees with a minute-by-minute count --------------------------------

ZONES = ["UTC", NY, LONDON, AMSTERDAM, "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata"]
# Around the 2026 DST changes of those zones, so the property meets them often.
ANCHORS = [datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 4, 5), datetime(2026, 10, 4),
           datetime(2026, 10, 25), datetime(2026, 11, 1), datetime(2026, 7, 15)]


@st.composite
def calendars(draw):
    hours = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(0, 1440), max_size=4)))
        spans = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        if spans:
            hours[day] = [(f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}") for a, b in spans]
    if not hours:
        hours["mon"] = [("09:00", "17:00")]
    tz = draw(st.sampled_from(ZONES))
    anchor = draw(st.sampled_from(ANCHORS)).date()
    holidays = draw(st.lists(st.integers(-6, 12).map(lambda k: anchor + timedelta(days=k)), max_size=3))
    return Calendar(name="p", timezone=tz, hours=hours, custom_holidays=holidays)


def brute_force(calendar: Calendar, start: datetime, end: datetime) -> int:
    """Count the UTC minutes in [start, end) whose local wall-clock reading is working time."""
    tz = ZoneInfo(calendar.timezone)
    spans = {i: calendar.spans(i) for i in range(7)}
    count, t = 0, start
    while t < end:
        local = t.replace(tzinfo=timezone.utc).astimezone(tz)
        minute = local.hour * 60 + local.minute
        if local.date() not in set(calendar.custom_holidays):
            count += any(a <= minute < b for a, b in spans[local.weekday()])
        t += timedelta(minutes=1)
    return count


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar=calendars(), anchor=st.sampled_from(ANCHORS),
       offset=st.integers(-4 * 1440, 4 * 1440), length=st.integers(0, 7 * 1440))
def test_matches_minute_by_minute_count(calendar, anchor, offset, length):
    start = anchor + timedelta(minutes=offset)
    end = start + timedelta(minutes=length)
    assert business_minutes(calendar, start, end)[0] == brute_force(calendar, start, end)


def test_sql_asof_join_gives_the_same_f(con):
    wt = build(US_BUSINESS, date(2026, 8, 25), date(2026, 10, 10))
    rng = np.random.default_rng(7)
    instants = scalar_us(datetime(2026, 8, 28)) + rng.integers(0, 40 * 86_400, 500).astype(float) * 1e6
    cur = con.cursor()
    register(cur, "cal_us", wt)
    cur.execute("CREATE TEMP TABLE x AS SELECT unnest(?) AS i, unnest(?) AS t",
                [list(range(500)), [v.astype(datetime) for v in from_us(instants)]])
    got = cur.execute(
        "SELECT coalesce(c.cum_us + least(greatest(date_diff('microsecond', c.start_utc, x.t), 0), "
        "date_diff('microsecond', c.start_utc, c.end_utc)), 0) / 6e7 AS f FROM x "
        "ASOF LEFT JOIN cal_us c ON x.t >= c.start_utc ORDER BY x.i").fetchnumpy()["f"]
    assert np.allclose(got, wt.F(instants) / 6e7)
