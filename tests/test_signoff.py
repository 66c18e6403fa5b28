"""Stakeholder sign-off: record, revoke with a reason, validation, state as of a moment, audit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from analytics.governance import signoff
from analytics.store import audit
from analytics.store.auth import local_operator

TODAY = datetime.now(timezone.utc).date()


def test_roles_are_the_seeds():
    assert signoff.ROLES == ("IT Director", "Operations Lead", "Engineering Lead", "Support Lead")


def test_nothing_signed_yet(con):
    cur = signoff.current(con)
    assert list(cur.columns) == signoff.CURRENT_COLUMNS
    assert list(cur["role"]) == list(signoff.ROLES) and set(cur["state"]) == {"not signed"}
    assert cur["name"].isna().all()
    assert signoff.history(con).empty and list(signoff.history(con).columns) == signoff.HISTORY_COLUMNS


def test_record_and_revoke(con):
    signoff.record(con, "IT Director", "  Ann Lee ", TODAY - timedelta(days=1), "Exit criteria reviewed",
                   local_operator("alice"))
    signoff.record(con, "Support Lead", "Bo Chan", TODAY, "", local_operator("alice"))
    signoff.revoke(con, "Support Lead", "Backlog grew again", local_operator("bob"))
    cur = signoff.current(con).set_index("role")
    assert cur.loc["IT Director", "state"] == "signed" and cur.loc["IT Director", "name"] == "Ann Lee"
    assert cur.loc["IT Director", "signed_on"] == TODAY - timedelta(days=1)
    assert cur.loc["IT Director", "comment"] == "Exit criteria reviewed" and cur.loc["IT Director", "reason"] is None
    assert cur.loc["IT Director", "recorded_by"] == "alice"
    assert cur.loc["Support Lead", "state"] == "revoked" and cur.loc["Support Lead", "name"] == "Bo Chan"
    assert cur.loc["Support Lead", "reason"] == "Backlog grew again"
    assert cur.loc["Support Lead", "signed_on"] == TODAY and cur.loc["Support Lead", "recorded_by"] == "bob"
    assert cur.loc["Operations Lead", "state"] == "not signed"
    hist = signoff.history(con)
    assert list(hist["kind"]) == ["revoked", "signed", "signed"] and list(hist["event_id"]) == [3, 2, 1]
    # Each write went to the audit log, in order, and the chain holds.
    t = audit.trail(con)
    assert list(t["action"]) == [audit.SIGNOFF_REVOKE, audit.SIGNOFF_RECORD, audit.SIGNOFF_RECORD]
    assert list(t["actor"]) == ["bob", "alice", "alice"] and t.loc[0, "object"] == "signoff:Support Lead"
    assert json.loads(t.loc[0, "detail"])["reason"] == "Backlog grew again"
    assert json.loads(t.loc[2, "detail"])["signed_on"] == (TODAY - timedelta(days=1)).isoformat()
    assert audit.verify(con) == []


def test_signing_again_after_a_revocation(con):
    signoff.record(con, "Engineering Lead", "Cy", TODAY, "ok", local_operator("a"))
    signoff.revoke(con, "Engineering Lead", "found a regression", local_operator("a"))
    signoff.record(con, "Engineering Lead", "Cy", TODAY, "fixed", local_operator("a"))
    row = signoff.current(con).set_index("role").loc["Engineering Lead"]
    assert row["state"] == "signed" and row["comment"] == "fixed" and row["reason"] is None


@pytest.mark.parametrize("kwargs, message", [
    ({"role": "CEO"}, "not a sign-off role"),
    ({"name": "   "}, "name is required"),
    ({"name": "x" * 201}, "too long"),
    ({"signed_on": TODAY + timedelta(days=2)}, "in the future"),
    ({"signed_on": None}, "date is required"),
])
def test_record_validation(con, kwargs, message):
    args = {"role": "IT Director", "name": "Ann", "signed_on": TODAY, "comment": "", "actor": local_operator("a"),
            **kwargs}
    with pytest.raises(ValueError, match=message):
        signoff.record(con, **args)
    assert signoff.history(con).empty and audit.trail(con).empty


def test_a_plain_name_is_refused_as_the_recording_user(con):
    for actor in ("a", ""):
        with pytest.raises(TypeError, match="actor must be an auth.Identity"):
            signoff.record(con, "IT Director", "Ann", TODAY, "", actor)
    assert signoff.history(con).empty and audit.trail(con).empty


def test_a_datetime_is_taken_as_its_day(con):
    signoff.record(con, "IT Director", "Ann", datetime.combine(TODAY, datetime.min.time()), "", local_operator("a"))
    assert signoff.current(con).loc[0, "signed_on"] == TODAY


def test_revoke_needs_a_current_signoff_and_a_reason(con):
    with pytest.raises(ValueError, match="no current sign-off for Operations Lead.*never been signed"):
        signoff.revoke(con, "Operations Lead", "why", local_operator("a"))
    signoff.record(con, "Operations Lead", "Di", TODAY, "", local_operator("a"))
    with pytest.raises(ValueError, match="reason"):
        signoff.revoke(con, "Operations Lead", "  ", local_operator("a"))
    with pytest.raises(ValueError, match="not a sign-off role"):
        signoff.revoke(con, "Nobody", "why", local_operator("a"))
    signoff.revoke(con, "Operations Lead", "why", local_operator("a"))
    with pytest.raises(ValueError, match="revoked already"):
        signoff.revoke(con, "Operations Lead", "again", local_operator("a"))
    assert len(signoff.history(con)) == 2 and len(audit.trail(con)) == 2


def test_state_as_of_a_moment(con):
    signoff.record(con, "IT Director", "Ann", TODAY - timedelta(days=10), "", local_operator("a"))
    signoff.record(con, "Support Lead", "Bo", TODAY - timedelta(days=3), "", local_operator("a"))
    recorded = signoff.history(con)["recorded_at"].max()
    signoff.revoke(con, "IT Director", "changed my mind", local_operator("a"))
    # Ten days ago minus one: nobody had signed yet (a sign-off counts from its date).
    early = signoff.current(con, as_of=datetime.combine(TODAY - timedelta(days=11), datetime.min.time()))
    assert set(early["state"]) == {"not signed"}
    # Five days ago: only the IT Director's backdated sign-off was in effect.
    mid = signoff.current(con, as_of=datetime.combine(TODAY - timedelta(days=5), datetime.min.time()))
    assert dict(zip(mid["role"], mid["state"]))["IT Director"] == "signed"
    assert dict(zip(mid["role"], mid["state"]))["Support Lead"] == "not signed"
    signoff.record(con, "Engineering Lead", "Cy", TODAY, "", local_operator("a"))
    # Just before the revocation was recorded both were signed; now the revocation counts.
    before = signoff.current(con, as_of=recorded.to_pydatetime())
    assert dict(zip(before["role"], before["state"]))["IT Director"] == "signed"
    now = signoff.current(con)
    assert dict(zip(now["role"], now["state"])) == {"IT Director": "revoked", "Operations Lead": "not signed",
                                                   "Engineering Lead": "signed", "Support Lead": "signed"}


def test_a_signoff_dated_ahead_of_utc_counts_once_recorded(con, monkeypatch):
    # East of UTC a stakeholder's "today" can be tomorrow in UTC: once recorded, it counts.
    tomorrow = TODAY + timedelta(days=1)
    monkeypatch.setattr(signoff, "_today", lambda: tomorrow)
    signoff.record(con, "IT Director", "Ann", tomorrow, "", local_operator("a"))
    recorded = signoff.history(con).loc[0, "recorded_at"].to_pydatetime()
    assert signoff.current(con).loc[0, "state"] == "signed"
    assert signoff.current(con, as_of=recorded - timedelta(seconds=1)).loc[0, "state"] == "not signed"
