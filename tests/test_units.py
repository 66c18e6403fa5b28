"""Numbers as people write them (issue #15): durations scaled to their size, sensible precision."""

from __future__ import annotations

import math

import pytest

from analytics.store import units


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.75, "minutes", "45 s"),
    (8.54, "minutes", "8.5 min"),
    (42.4, "minutes", "42 min"),
    (59.6, "minutes", "1 h"),
    (120.2, "minutes", "2 h"),
    (902.0, "minutes", "15 h 02 min"),
    (1439.6, "minutes", "1.0 d"),
    (2090.9, "minutes", "1.5 d"),
    (43279.6, "hours", "1,803 d"),
    (15.0333, "hours", "15 h 02 min"),
    (2.1, "days", "2.1 d"),
    (30, "seconds", "30 s"),
    (-90, "minutes", "-1 h 30 min"),
    (None, "minutes", "—"),
    (math.nan, "hours", "—"),
])
def test_a_duration_is_written_in_the_unit_its_size_calls_for(value, unit, text):
    assert units.duration(value, unit) == text


def test_every_hour_and_minute_below_a_day_reads_back_to_the_rounded_minute():
    for minutes in range(60, 1440):
        h, _, m = units.duration(minutes + 0.4).replace(" min", "").partition(" h")
        assert int(h) * 60 + int(m or 0) == minutes


@pytest.mark.parametrize(("value", "text"), [
    (78.247, "78.2 %"), (99.95, "99.95 %"), (99.0, "99.00 %"), (100.0, "100.0 %"), (0.0, "0.0 %"),
    (None, "—"),
])
def test_a_percentage_has_a_tenth_and_two_decimals_near_100(value, text):
    assert units.percent(value) == text


def test_business_time_stays_in_hours_a_business_day_is_not_24_hours():
    assert [units.duration(m, business=True) for m in (30, 90, 1440, 9840)] == ["30 min", "1 h 30 min", "24 h", "164 h"]


def test_points_and_counts():
    assert units.percent(1.25, points=True) == "1.2 points"
    assert units.count(1234.4) == "1,234" and units.count(None) == "—"
