"""SLA policies: the seed defaults, TOML round trip, readable validation errors, versions in the DB."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.sla.calendar import Calendar
from analytics.sla.policy import (
    SEED_VERSION,
    PolicyError,
    default_policy,
    pause_matcher,
    policies,
    policy_from_toml,
    policy_in_force,
    policy_to_toml,
    policy_versions,
    save_policy,
)
from analytics.store import db
from analytics.store.auth import local_operator

GOOD = """
version = "2026-10"
effective_from = 2026-10-01
pause_statuses = ["Awaiting*", "On Hold"]
release_date = 2026-11-30

[[calendars]]
name = "support"
timezone = "Europe/London"
country = "GB"
subdivision = "ENG"
custom_holidays = [2026-12-24]
[calendars.hours]
mon = [["09:00", "12:00"], ["13:00", "17:30"]]
tue = [["09:00", "17:00"]]
fri = [["09:00", "13:00"]]

[[targets]]
severity = "SEV-1"
metric = "response"
minutes = 10

[[targets]]
severity = "SEV-2"
metric = "resolution"
calendar = "support"
business_days = 2

[[targets]]
severity = "SEV-2"
ticket_type = "defect"
metric = "response"
calendar = "support"
same_business_day = true

[[targets]]
severity = "SEV-4"
metric = "resolution"
calendar = "support"
next_release = true
"""


def test_seed_defaults():
    p = default_policy("America/New_York")
    assert (p.version, p.effective_from, p.ever_breached) == (SEED_VERSION, date(1970, 1, 1), True)
    assert p.compliance_target_pct == 95 and p.at_risk_buckets == [50, 75, 90, 100]
    assert p.calendars[0].timezone == "America/New_York" and p.calendars[0].country is None
    assert sorted(p.calendars[0].hours) == ["fri", "mon", "thu", "tue", "wed"]
    got = {(t.severity, t.ticket_type, t.metric): t.describe() for t in p.targets}
    assert got == {
        ("SEV-1", None, "response"): "15 min (24x7)",
        ("SEV-1", None, "resolution"): "4 h (24x7)",
        ("SEV-2", None, "response"): "30 min (24x7)",
        ("SEV-2", None, "resolution"): "8 h (24x7)",
        ("SEV-3", None, "response"): "4 h (business)",
        ("SEV-3", None, "resolution"): "3 business days (business)",
        ("SEV-4", None, "response"): "1 business day (business)",
        ("SEV-4", None, "resolution"): "next release (business)",
        ("SEV-1", "defect", "response"): "1 h (24x7)",
        ("SEV-1", "defect", "resolution"): "24 h (24x7)",
        ("SEV-2", "defect", "response"): "same business day (business)",
        ("SEV-2", "defect", "resolution"): "72 h (24x7)",
    }


def test_most_specific_target_wins():
    p = default_policy()
    assert p.target("SEV-1", "response", "defect").minutes == 60
    assert p.target("SEV-1", "response", "incident").minutes == 15
    assert p.target("SEV-3", "response", "defect").minutes == 240  # no defect row: any-type
    assert p.target("SEV-3", "response", None).minutes == 240


def test_toml_round_trip():
    p = policy_from_toml(GOOD)
    assert p.calendars[0].hours["mon"] == [("09:00", "12:00"), ("13:00", "17:30")]
    assert p.calendars[0].custom_holidays == [date(2026, 12, 24)]
    assert p.release_date == date(2026, 11, 30)
    text = policy_to_toml(p)
    assert policy_from_toml(text) == p
    assert "same_business_day = true" in text and "next_release = false" not in text
    seed = default_policy("Europe/Amsterdam")
    assert policy_from_toml(policy_to_toml(seed)) == seed


def _broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


ERRORS = [
    ("two-kinds", _broken('business_days = 2', 'business_days = 2\nminutes = 60'),
     "targets[1]: SEV-2 resolution needs exactly one of minutes, business_days, same_business_day, next_release"),
    ("no-kind", _broken('minutes = 10', ''),
     "targets[0]: SEV-1 response needs exactly one of minutes, business_days, same_business_day, next_release"),
    ("unknown-calendar", _broken('calendar = "support"\nbusiness_days', 'calendar = "office"\nbusiness_days'),
     "targets[1]: SEV-2 resolution: calendar 'office' is not defined (known: 24x7, support)"),
    ("bad-zone", _broken('Europe/London', 'Europe/Londn'), "calendars[0].timezone: 'Europe/Londn' is not an IANA time zone"),
    ("bad-time", _broken('"17:30"', '"25:00"'), "calendars[0].hours: '25:00' is not a time of day HH:MM"),
    ("overlap", _broken('["13:00", "17:30"]', '["11:00", "17:30"]'), "calendars[0].hours: mon: 11:00–17:30 overlaps 09:00–12:00"),
    ("backwards", _broken('["13:00", "17:30"]', '["17:30", "13:00"]'), "mon: 17:30–13:00 ends before it starts"),
    ("bad-weekday", _broken('tue = ', 'tues_day = '), "'tues_day' is not a weekday"),
    ("bad-country", _broken('country = "GB"', 'country = "XX"'), "no public holidays known for country 'XX'"),
    ("bad-subdivision", _broken('subdivision = "ENG"', 'subdivision = "NY"'), "'NY' is not a subdivision of GB"),
    ("bad-severity", _broken('severity = "SEV-1"', 'severity = "P1"'), "targets[0].severity: 'P1' is not one of SEV-1"),
    ("bad-type", _broken('ticket_type = "defect"', 'ticket_type = "bug"'), "targets[2].ticket_type: 'bug' is not one of"),
    ("bad-metric", _broken('metric = "response"', 'metric = "ack"'), "targets[0].metric: Input should be 'response' or 'resolution'"),
    ("duplicate", _broken('severity = "SEV-2"\nmetric', 'severity = "SEV-1"\nmetric').replace(
        'calendar = "support"\nbusiness_days = 2', 'minutes = 20', 1).replace('"resolution"\nminutes = 20', '"response"\nminutes = 20'),
     "targets[1]: SEV-1 response is already set by targets[0]"),
    ("days-on-24x7", _broken('calendar = "support"\nbusiness_days', 'business_days'),
     "targets[1]: SEV-2 resolution: business_days needs a working-hours calendar, not 24x7"),
    ("negative-minutes", _broken('minutes = 10', 'minutes = -5'), "targets[0].minutes: Input should be greater than 0"),
    ("buckets", 'version = "x"\nat_risk_buckets = [75, 50]', "at_risk_buckets: at_risk_buckets must be positive and strictly increasing"),
    ("builtin-name", _broken('name = "support"', 'name = "24x7"'), "'24x7' is built in"),
    ("unknown-key", 'version = "x"\nslack_channel = "#ops"', "slack_channel: Extra inputs are not permitted"),
    ("not-toml", 'version = "x', "policy: not valid TOML"),
    ("blank-version", 'version = "  "', "version: version must not be blank"),
]


@pytest.mark.parametrize("text, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_errors_are_clear(text, message):
    with pytest.raises(PolicyError) as info:
        policy_from_toml(text)
    assert message in str(info.value)


@pytest.mark.parametrize("status, pauses", [
    ("Awaiting User Info", True), ("awaiting vendor", True), ("On Hold", True), ("on hold", True),
    (" On Hold ", True), ("Pending Change", True), ("Waiting for customer", True), ("Waiting for vendor", True),
    ("Hold", False), ("Not on hold", False), ("In Progress", False), ("Resolved", False), ("Awaiting", True),
])
def test_default_pause_patterns(status, pauses):
    assert bool(pause_matcher(default_policy().pause_statuses).match(status)) is pauses


def test_wildcard_is_the_only_special_character():
    m = pause_matcher(["Wait (ext.)*"])
    assert m.match("wait (ext.) 3 days") and not m.match("Waitx(ext.)")


def test_no_saved_versions_gives_seed_defaults_in_the_default_zone(con):
    assert [p.version for p in policies(con)] == [SEED_VERSION]
    assert policies(con)[0].calendars[0].timezone == "UTC"
    db.set_setting(con, "default_timezone", "Europe/Amsterdam")
    assert policies(con)[0].calendars[0].timezone == "Europe/Amsterdam"


def test_save_list_and_choose_by_date(con):
    base = default_policy("UTC")
    v1 = base.model_copy(update={"version": "v1", "effective_from": date(2026, 1, 1)})
    v2 = base.model_copy(update={"version": "v2", "effective_from": date(2026, 10, 1), "compliance_target_pct": 99.0})
    save_policy(con, v2, local_operator("alice"))
    save_policy(con, v1, local_operator("bob"))
    got = policies(con)
    assert [p.version for p in got] == ["v1", "v2"]  # by effective date, not saving order
    assert got[1].compliance_target_pct == 99.0 and got[1] == v2
    assert policy_in_force(got, date(2026, 9, 30)).version == "v1"
    assert policy_in_force(got, date(2026, 10, 1)).version == "v2"
    assert policy_in_force(got, date(2025, 5, 1)).version == "v1"  # before the first: the first
    versions = policy_versions(con)
    assert versions.version.tolist() == ["v1", "v2"] and versions.saved_by.tolist() == ["bob", "alice"]


def test_saving_refuses_duplicates_and_the_seed_name(con):
    p = default_policy().model_copy(update={"version": "v1"})
    save_policy(con, p, local_operator("alice"))
    with pytest.raises(PolicyError, match="version 'v1' is already saved"):
        save_policy(con, p.model_copy(update={"compliance_target_pct": 90.0}), local_operator("bob"))
    with pytest.raises(PolicyError, match="built-in defaults"):
        save_policy(con, default_policy(), local_operator("alice"))
    assert [x.version for x in policies(con)] == ["v1"]


def test_saving_revalidates_a_model_built_without_validation(con):
    # model_copy skips validation; save_policy must not store an inconsistent policy.
    bad = default_policy().model_copy(update={"version": "v9", "calendars": []})
    with pytest.raises(PolicyError, match="calendar 'business' is not defined"):
        save_policy(con, bad, local_operator("alice"))
    assert policy_versions(con).empty


def test_calendar_needs_working_hours():
    with pytest.raises(ValueError, match="has no working hours"):
        Calendar(name="idle", hours={})


def test_business_days_rule_and_pause_reasons_errors_name_the_entry():
    text = 'version = "x"\n[[targets]]\nseverity = "SEV-1"\nmetric = "response"\nminutes = 10\n' \
           'business_days_rule = "end_of_day"\n'
    with pytest.raises(PolicyError, match=r"targets\[0\]: SEV-1 response: business_days_rule applies to "
                                          "business_days targets only"):
        policy_from_toml(text)
    with pytest.raises(PolicyError, match="business_days_rule"):
        policy_from_toml(text.replace('minutes = 10\n', 'business_days = 1\ncalendar = "x"\n')
                         .replace('"end_of_day"', '"by friday"'))
    with pytest.raises(PolicyError, match="pause_reasons.resolution: a pause reason must not be blank"):
        policy_from_toml('version = "x"\n[pause_reasons]\nresolution = ["user", " "]\n')
