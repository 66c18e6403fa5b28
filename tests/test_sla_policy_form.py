"""The policy form round-trips the seed defaults and names the row that is wrong."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.sla import policy as sp
from analytics.sla.policy_form import policy_from_form, targets_frame
from analytics.store.auth import local_operator


def _form(frame, **over):
    args = dict(base=sp.default_policy(), version="v2", effective=date(2026, 10, 1), targets=frame,
                tz="Europe/Amsterdam", country="NL", subdivision=None, hours="09:00-12:00, 13:00-17:00",
                pauses="Awaiting*\nOn Hold", compliance=97.5)
    args.update(over)
    return policy_from_form(**args)


def test_seed_targets_survive_the_form():
    base = sp.default_policy()
    frame = targets_frame(base)
    assert len(frame) == len(base.targets)
    policy = _form(frame)
    assert policy.targets == base.targets
    cal = policy.calendars[0]
    assert (cal.timezone, cal.country, cal.hours["mon"]) == ("Europe/Amsterdam", "NL", [("09:00", "12:00"), ("13:00", "17:00")])
    assert "sat" not in cal.hours and policy.compliance_target_pct == 97.5
    assert policy.pause_statuses == ["Awaiting*", "On Hold"]
    assert sp.policy_from_toml(sp.policy_to_toml(policy)) == policy


@pytest.mark.parametrize("change,message", [
    (lambda f: f.assign(kind=[None] + list(f["kind"][1:])), "targets row 1: choose a kind"),
    (lambda f: f.assign(amount=[None] + list(f["amount"][1:])), "targets row 1: minutes needs an amount"),
])
def test_bad_rows_are_named(change, message):
    with pytest.raises(sp.PolicyError, match=message):
        _form(change(targets_frame(sp.default_policy())))


def test_bad_hours_and_zone_are_explained():
    frame = targets_frame(sp.default_policy())
    with pytest.raises(sp.PolicyError, match="working hours"):
        _form(frame, hours="nine to five")
    with pytest.raises(sp.PolicyError, match="overlaps"):
        _form(frame, hours="09:00-13:00, 12:00-17:00")
    with pytest.raises(sp.PolicyError, match="no public holidays known for country 'XX'"):
        _form(frame, country="XX")


def test_saved_form_policy_becomes_a_version(con):
    policy = _form(targets_frame(sp.default_policy()))
    sp.save_policy(con, policy, who=local_operator("test"))
    assert list(sp.policy_versions(con)["version"]) == ["v2"]
    with pytest.raises(sp.PolicyError, match="already saved"):
        sp.save_policy(con, policy, who=local_operator("test"))


def test_end_of_day_kind_and_pause_reasons_round_trip():
    base = sp.default_policy()
    frame = targets_frame(base)
    # Seed SEV-3 resolution "3 business days" read as a duration; switch it to "by end of day".
    row = frame.index[(frame["severity"] == "SEV-3") & (frame["clock"] == "resolution")][0]
    assert frame.at[row, "kind"] == "business days"
    frame.at[row, "kind"] = "business days (by end of day)"
    policy = _form(frame, pause_reasons={"response": "User", "resolution": "customer, vendor"})
    target = policy.target("SEV-3", "resolution")
    assert (target.business_days, target.business_days_rule) == (3, "end_of_day")
    assert targets_frame(policy).at[row, "kind"] == "business days (by end of day)"
    assert (policy.pause_reasons.response, policy.pause_reasons.resolution) == (["user"], ["customer", "vendor"])
    assert _form(targets_frame(base)).pause_reasons == base.pause_reasons  # not given: kept
