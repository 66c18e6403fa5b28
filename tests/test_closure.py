"""Closure scorecard: each criterion in each state on hand-built tickets, as-of reconstruction,
rules storage, the CLI, and a run over the demo data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from analytics.cli import main
from analytics.governance import closure, closure_metrics, signoff
from analytics.governance import closure_rules as cr
from analytics.sla import cache
from analytics.store import audit, db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from analytics.store.schema import TICKET_COLUMNS

T = datetime(2026, 10, 15)  # the as-of moment of every crafted case
H = timedelta(hours=1)
D = timedelta(days=1)
_n = iter(range(1, 10_000))


def write(con, sql: str, params: list | None = None) -> None:
    """A crafted change, through the one write path (db.transaction), so the caches follow."""
    with audit.transaction(con) as cur:
        cur.execute(sql, params or [])


def add(con, **fields) -> str:
    """Insert one ticket; unspecified fields are NULL. Returns its ticket_id."""
    ext = fields.pop("id", None) or f"T-{next(_n)}"
    row = {"ticket_id": f"test:{ext}", "source": "test", "external_id": ext, "type": "incident",
           "status_category": "open", "title": f"ticket {ext}", **fields}
    cols = [c for c in TICKET_COLUMNS if c in row]
    write(con, f"INSERT INTO tickets ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols])
    return row["ticket_id"]


def card(con, rules=None, as_of=T, filters=Filters()) -> dict[str, dict]:
    frame = closure.evaluate(con, as_of, filters, rules=rules)
    assert list(frame.columns) == closure.COLUMNS
    return {r["key"]: r for r in frame.to_dict("records")}


def status(con, key, rules=None, as_of=T, filters=Filters()) -> tuple[str, str, pd.DataFrame]:
    row = card(con, rules, as_of, filters)[key]
    ev = closure.evidence(con, key, as_of, filters, rules=rules)
    assert row["evidence_count"] == len(ev)
    assert row["status"] in cr.STATUSES and row["detail"] and row["definition"]
    return row["status"], row["detail"], ev


# --- 1. open critical / high defects ----------------------------------------------------


def test_open_defects_not_measurable_without_severities(con):
    assert status(con, "open_defects")[0] == cr.NOT_MEASURABLE  # empty store
    add(con, type="defect", severity=None, opened_at=T - 5 * D)
    s, detail, ev = status(con, "open_defects")
    assert s == cr.NOT_MEASURABLE and "no mapped severity" in detail
    assert "1 open ones have no mapped severity" in detail and list(ev["finding"]) == ["open, no severity mapped"]


def test_open_defects_pass(con):
    add(con, type="defect", severity="SEV-1", opened_at=T - 5 * D, resolved_at=T - 4 * D, status_category="resolved")
    add(con, type="incident", severity="SEV-2", opened_at=T - 3 * D, closed_at=T - 2 * D, status_category="closed")
    add(con, type="defect", severity="SEV-3", opened_at=T - 3 * D)  # open, but not critical or high
    add(con, type="enhancement", severity="SEV-1", opened_at=T - 3 * D)  # not a defect or incident
    add(con, type="defect", severity="SEV-1", opened_at=T + H)  # opened after as_of: ignored
    add(con, type="defect", severity="SEV-1", opened_at=T - 9 * D, status_category="cancelled")
    s, detail, ev = status(con, "open_defects")
    assert s == cr.PASS and ev.empty and "all 2 opened by then" in detail


def test_open_defects_fail_reads_the_state_at_as_of(con):
    still_open = add(con, type="incident", severity="SEV-2", opened_at=T - 2 * D)
    # Resolved today, but after as_of: it was open then.
    later = add(con, type="defect", severity="SEV-1", opened_at=T - 6 * D, resolved_at=T + 2 * H,
                status_category="resolved")
    # Open today with an old resolution time: it was reopened, so that resolution no longer holds.
    reopened = add(con, type="defect", severity="SEV-1", opened_at=T - 8 * D, resolved_at=T - 7 * D,
                   reopen_count=1, status_category="open")
    add(con, type=None, severity="SEV-1", opened_at=T - 9 * D, resolved_at=T - 8 * D, status_category="resolved")
    s, detail, ev = status(con, "open_defects")
    assert s == cr.FAIL
    assert set(ev["ticket_id"]) == {still_open, later, reopened} and set(ev["finding"]) == {"open"}
    assert detail.startswith("3 SEV-1/SEV-2 defect/incident tickets open") and "oldest opened 2026-10-07" in detail
    # Earlier still, only the reopened one and the later-resolved one existed.
    s, _, ev = status(con, "open_defects", as_of=T - 3 * D)
    assert s == cr.FAIL and set(ev["ticket_id"]) == {later, reopened}


def test_open_defects_at_risk_when_only_mitigated_or_unmapped(con):
    mitigated = add(con, type="incident", severity="SEV-1", opened_at=T - 2 * D, mitigated_at=T - D,
                    resolved_at=T + D, status_category="resolved")
    add(con, type="incident", severity="SEV-2", opened_at=T - 2 * D, resolved_at=T - D, status_category="resolved")
    s, detail, ev = status(con, "open_defects")
    assert s == cr.AT_RISK and list(ev["ticket_id"]) == [mitigated]
    assert list(ev["finding"]) == ["mitigated, not resolved"] and "1 only mitigated" in detail
    unmapped = add(con, type="defect", severity=None, opened_at=T - D)
    s, detail, ev = status(con, "open_defects")
    assert s == cr.AT_RISK and set(ev["ticket_id"]) == {mitigated, unmapped} and "without a mapped" in detail


def test_open_defects_rules_and_filters_narrow_it(con):
    add(con, type="incident", severity="SEV-2", opened_at=T - 2 * D, service="Payments")
    add(con, type="defect", severity="SEV-1", opened_at=T - 2 * D, resolved_at=T - D, status_category="resolved",
        service="Identity")
    assert status(con, "open_defects")[0] == cr.FAIL
    assert status(con, "open_defects", filters=Filters(service=("Identity",)))[0] == cr.PASS
    defects_only = cr.ClosureRules(blocking_types=["defect"])
    assert status(con, "open_defects", rules=defects_only)[0] == cr.PASS
    # Resolved without any time: counted as resolved, and said so.
    add(con, type="defect", severity="SEV-1", opened_at=T - 2 * D, status_category="closed")
    s, detail, _ = status(con, "open_defects", rules=defects_only)
    assert s == cr.PASS and "1 counted as resolved though the data has no resolution time" in detail


# --- 2. SLA compliance ------------------------------------------------------------------
# Seed policy: SEV-1 response 15 min, resolution 240 min, both on the 24x7 clock.


def _sev1(con, opened: datetime, ack_min: float, res_min: float | None, **extra) -> str:
    return add(con, type="incident", severity="SEV-1", opened_at=opened,
               acknowledged_at=opened + timedelta(minutes=ack_min),
               resolved_at=None if res_min is None else opened + timedelta(minutes=res_min),
               status_category="open" if res_min is None else "resolved", **extra)


def test_sla_pass_fail_and_at_risk(con):
    for i in range(10):
        _sev1(con, T - (3 + i) * D, 5, 60)
    small = cr.ClosureRules(sla_min_sample=5)
    s, detail, ev = status(con, "sla", rules=small)
    assert s == cr.PASS and len(ev) == 20 and set(ev["status"]) == {"met"}
    assert "response 100.0 % (10 of 10 met" in detail and "Target 95 % (SLA policy 'seed-default')" in detail
    # The default smallest sample is 30 clocks: ten is too few to be sure.
    assert status(con, "sla")[0] == cr.AT_RISK
    # 39 of 40 response clocks met = 97.5 %: above a 96 % target, but within 2 points of it.
    for i in range(30):
        _sev1(con, T - (3 + i % 20) * D, 20 if i == 0 else 5, 60)
    margin = cr.ClosureRules(sla_target_pct=96, sla_min_sample=5)
    s, detail, ev = status(con, "sla", rules=margin)
    assert s == cr.AT_RISK and "response 97.5 % (39 of 40 met" in detail and "closure rules" in detail
    # Two resolutions over 240 minutes: 38 of 40 = 95.0 % — at a 96 % target that fails.
    for tid in ev[ev["metric"] == "resolution"]["ticket_id"][:2]:
        write(con, "UPDATE tickets SET resolved_at = opened_at + INTERVAL 300 MINUTE WHERE ticket_id = ?", [tid])
    cache.clear()  # a direct UPDATE is not an upload: forget the judgements made before it
    s, detail, ev = status(con, "sla", rules=margin)
    assert s == cr.FAIL and "resolution 95.0 % (38 of 40 met" in detail
    assert list(ev["status"][:3]) == ["breached"] * 3  # breaches first


def test_sla_counts_only_clocks_stopped_in_the_window_before_as_of(con):
    rules = cr.ClosureRules(sla_min_sample=1)
    _sev1(con, T - 40 * D, 5, 60)  # stopped long before the window
    _sev1(con, T - 2 * H, 5, 300)  # response met in the window; resolution stops after as_of
    _sev1(con, T + H, 5, 60)  # opened after as_of
    s, detail, ev = status(con, "sla", rules=rules)
    assert s == cr.NOT_MEASURABLE and "No resolution clock stopped" in detail
    assert list(zip(ev["metric"], ev["status"])) == [("response", "met")]
    # Five hours later the second ticket's resolution has stopped after 300 minutes (breached),
    # and the third ticket, opened after T, has met both its clocks.
    s, detail, ev = status(con, "sla", rules=rules, as_of=T + 5 * H)
    assert s == cr.FAIL and "resolution 50.0 % (1 of 2 met" in detail and "response 100.0 % (2 of 2" in detail


def test_sla_not_measurable_without_clocks_or_policy(con, monkeypatch):
    s, detail, ev = status(con, "sla")
    assert s == cr.NOT_MEASURABLE and ev.empty and "No response or resolution clock" in detail
    from analytics.sla import policy as sla_policy

    monkeypatch.setattr(sla_policy, "policies", lambda c: (_ for _ in ()).throw(
        sla_policy.PolicyError("saved policy 'x': not valid TOML")))
    s, detail, _ = status(con, "sla")
    assert s == cr.NOT_MEASURABLE and "No SLA policy can be applied" in detail and "not valid TOML" in detail


# --- 3. KPI targets ---------------------------------------------------------------------


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_kpis_mttr_sev1_each_state(con):
    rules = cr.ClosureRules(kpi_keys=["mttr_sev1"], kpi_min_sample=3)
    s, detail, ev = status(con, "kpis", rules=rules)
    assert s == cr.NOT_MEASURABLE and "MTTR SEV-1 not measurable" in detail
    for hours in (1, 2):
        _sev1(con, T - 5 * D, 5, hours * 60)
    s, detail, ev = status(con, "kpis", rules=rules)  # mean 1.5 h, but on two tickets only
    assert s == cr.AT_RISK and "fewer than 3 tickets: MTTR SEV-1" in detail
    assert ev.loc[0, "value"] == pytest.approx(1.5) and ev.loc[0, "n"] == 2
    _sev1(con, T - 5 * D, 5, 3 * 60)
    s, detail, ev = status(con, "kpis", rules=rules)
    assert s == cr.PASS and ev.loc[0, "value"] == pytest.approx(2.0) and "MTTR SEV-1 2 h (target ≤ 4 h: met" in detail
    _sev1(con, T - 5 * D, 5, 14 * 60)  # mean (1 + 2 + 3 + 14) / 4 = 5 h > 4 h
    s, detail, ev = status(con, "kpis", rules=rules)
    assert s == cr.FAIL and ev.loc[0, "value"] == pytest.approx(5.0) and "Missed" in detail
    # No target set: the KPI cannot be judged; with nothing else to judge, not measurable.
    db.set_setting(con, "kpi_target.mttr_sev1", "")
    s, detail, _ = status(con, "kpis", rules=rules)
    assert s == cr.NOT_MEASURABLE and "no target" in detail


def test_kpis_availability_over_the_window_from_go_live(con):
    rules = cr.ClosureRules(kpi_keys=["availability", "mtbf"], kpi_window_days=10)
    # One SEV-1 outage of 1 h on Payments, three days before as_of, in Hypercare's own data (its
    # SEV-1/SEV-2 incidents are outages); the data runs up to as_of.
    add(con, type="incident", severity="SEV-1", service="Payments", opened_at=T - 3 * D,
        resolved_at=T - 3 * D + H, status_category="resolved", source="hypercare")
    add(con, type="incident", severity="SEV-4", service="Payments", opened_at=T, source="hypercare")
    s, detail, ev = status(con, "kpis", rules=rules)
    head = ev.set_index(["kpi", "service"])
    assert head.loc[("Availability", "all"), "value"] == pytest.approx(100 * (1 - 1 / 240))  # 10 days = 240 h
    assert head.loc[("Availability", "Payments"), "status"] == "missed"
    assert s == cr.FAIL and "Availability" in detail
    # Go-live five days before as_of: the window is 120 h.
    audit.set_setting(con, "go_live_date", (T - 5 * D).date().isoformat(), local_operator("test"))
    ev = closure.evidence(con, "kpis", T, rules=rules).set_index(["kpi", "service"])
    assert ev.loc[("Availability", "all"), "value"] == pytest.approx(100 * (1 - 1 / 120))
    # MTBF needs two failures of a service: with one it is not computable, and says why.
    assert ev.loc[("MTBF", "all"), "status"] == "not measurable"
    assert "one failure" in ev.loc[("MTBF", "Payments"), "note"]
    # The data ends with the outage's resolution: no uptime is counted after it (9 days + 1 h
    # observed in a window that ends at the end of its last day), whatever the as-of time.
    write(con, "DELETE FROM tickets WHERE severity = 'SEV-4'")
    db.set_setting(con, "go_live_date", "")
    ev = closure.evidence(con, "kpis", T + 30 * D, rules=rules).set_index(["kpi", "service"])
    assert ev.loc[("Availability", "all"), "value"] == pytest.approx(100 * (1 - 1 / (9 * 24 + 1)))


def test_kpis_availability_not_measurable_for_sources_without_outages(con):
    rules = cr.ClosureRules(kpi_keys=["availability"], kpi_window_days=10)
    add(con, type="incident", severity="SEV-1", service="Payments", opened_at=T - 3 * D,
        resolved_at=T - 3 * D + H, status_category="resolved", source="servicenow")
    s, detail, ev = status(con, "kpis", rules=rules)
    assert s == cr.NOT_MEASURABLE and "servicenow does not describe service outages" in detail


def test_kpi_window_ignores_an_unreadable_or_later_go_live(con):
    rules = cr.ClosureRules(kpi_window_days=10)
    db.set_setting(con, "go_live_date", "soon")
    assert closure_metrics.kpi_period(con, T, rules).start == T - 10 * D
    db.set_setting(con, "go_live_date", (T + D).date().isoformat())  # as_of before go-live
    assert closure_metrics.kpi_period(con, T, rules).start == T - 10 * D


def test_kpis_at_risk_when_one_is_not_computable(con):
    rules = cr.ClosureRules(kpi_keys=["availability", "mtbf"], kpi_window_days=100)
    assert status(con, "kpis", rules=rules)[0] == cr.NOT_MEASURABLE  # no outage at all
    # One 6-minute outage in 100 days: availability 99.9958 % meets 99.9 %; MTBF needs two failures.
    add(con, type="incident", severity="SEV-2", service="Identity", opened_at=T - 3 * D,
        resolved_at=T - 3 * D + timedelta(minutes=6), status_category="resolved", source="hypercare")
    add(con, type="defect", severity="SEV-4", service="Identity", opened_at=T, source="hypercare")
    s, detail, ev = status(con, "kpis", rules=rules)
    assert s == cr.AT_RISK and "not judged: MTBF" in detail
    assert f"Availability {100 * (1 - 0.1 / 2400):.3f} %" in detail


# --- 4. enhancements prioritised and scheduled ------------------------------------------


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_enhancements_each_state(con):
    s, detail, _ = status(con, "enhancements")
    assert s == cr.NOT_MEASURABLE and "No enhancement ticket" in detail
    a = add(con, type="enhancement", severity="SEV-4", opened_at=T - 9 * D)
    s, detail, _ = status(con, "enhancements")
    assert s == cr.NOT_MEASURABLE and "no enhancement ticket carries a target release" in detail
    write(con, "UPDATE tickets SET target_release = 'Release 3' WHERE ticket_id = ?", [a])
    b = add(con, type="enhancement", priority_raw="Low", opened_at=T - 8 * D, due_at=T + 9 * D)
    s, detail, ev = status(con, "enhancements")
    assert s == cr.PASS and set(ev["ticket_id"]) == {a, b} and set(ev["finding"]) == {"scheduled"}
    c = add(con, type="enhancement", priority_raw=" ", opened_at=T - 7 * D)  # no priority, no schedule
    d = add(con, type="enhancement", severity="SEV-3", opened_at=T - 7 * D, target_release="  ")
    s, detail, ev = status(con, "enhancements")
    assert s == cr.FAIL and "1 without a priority and 2 without a target release" in detail
    assert dict(zip(ev["ticket_id"], ev["finding"]))[c] == "no priority, not scheduled"
    assert dict(zip(ev["ticket_id"], ev["finding"]))[d] == "not scheduled"
    assert list(ev["ticket_id"][:2]) == [c, d] or list(ev["ticket_id"][:2]) == [d, c]  # problems first
    write(con, "DELETE FROM tickets WHERE ticket_id IN (?, ?)", [c, d])
    e = add(con, type="enhancement", severity="SEV-4", opened_at=T - 30 * D, due_at=T - D,
            resolved_at=T + D, status_category="resolved")  # done today, but open and overdue at as_of
    s, detail, ev = status(con, "enhancements")
    assert s == cr.AT_RISK and "1 are past their due date" in detail
    assert ev.loc[0, "ticket_id"] == e and ev.loc[0, "finding"] == "overdue"
    # As of later, it is done; none overdue again.
    assert status(con, "enhancements", as_of=T + 2 * D)[0] == cr.PASS


def test_enhancements_pass_when_none_open(con):
    add(con, type="enhancement", severity="SEV-4", opened_at=T - 9 * D, resolved_at=T - D, status_category="resolved")
    add(con, type="enhancement", opened_at=T - 9 * D, status_category="cancelled")
    s, detail, ev = status(con, "enhancements")
    assert s == cr.PASS and ev.empty and "None of the 1 enhancement tickets is open" in detail


# --- 5. sign-off ------------------------------------------------------------------------


def _utc_soon() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1)


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_signoff_each_state(con):
    now = _utc_soon()
    s, detail, ev = status(con, "signoff", as_of=now)
    assert s == cr.FAIL and "0 of 4 required roles signed" in detail and len(ev) == 4
    day = now.date() - timedelta(days=1)
    signoff.record(con, "IT Director", "Ann", day, "", local_operator("a"))
    signoff.record(con, "Support Lead", "Bo", day, "", local_operator("a"))
    s, detail, _ = status(con, "signoff", as_of=now)
    assert s == cr.AT_RISK and "still to sign: Operations Lead, Engineering Lead" in detail
    signoff.record(con, "Operations Lead", "Cy", day, "", local_operator("a"))
    signoff.record(con, "Engineering Lead", "Di", day, "", local_operator("a"))
    assert status(con, "signoff", as_of=_utc_soon())[0] == cr.PASS
    # Before the sign-off day nothing was signed yet.
    assert status(con, "signoff", as_of=datetime.combine(day, datetime.min.time()) - D)[0] == cr.FAIL
    signoff.revoke(con, "Support Lead", "new SEV-1", local_operator("b"))
    s, detail, _ = status(con, "signoff", as_of=_utc_soon())
    assert s == cr.FAIL and "revoked: Support Lead" in detail
    three = cr.ClosureRules(required_roles=["IT Director", "Operations Lead", "Engineering Lead"])
    assert status(con, "signoff", rules=three, as_of=_utc_soon())[0] == cr.PASS
    assert status(con, "signoff", rules=cr.ClosureRules(required_roles=[]))[0] == cr.NOT_MEASURABLE


# --- rules ------------------------------------------------------------------------------


def test_rules_defaults_round_trip_and_audited_save(con):
    assert cr.load_rules(con) == cr.ClosureRules()
    assert cr.ClosureRules().blocking_severities == ["SEV-1", "SEV-2"]
    assert cr.ClosureRules().required_roles == list(signoff.ROLES)
    changed = cr.ClosureRules(sla_window_days=14, sla_target_pct=97.5)
    assert cr.rules_from_toml(cr.rules_to_toml(changed)) == changed
    assert cr.save_rules(con, changed, local_operator("alice")) is True
    assert cr.save_rules(con, changed.model_dump(), local_operator("alice")) is False  # unchanged: nothing recorded
    assert cr.load_rules(con) == changed
    t = audit.trail(con, action=audit.CLOSURE_RULES_SAVE)
    assert len(t) == 1 and t.loc[0, "actor"] == "alice"
    assert json.loads(t.loc[0, "detail"])["changes"] == {"sla_window_days": {"old": 28, "new": 14},
                                                         "sla_target_pct": {"old": None, "new": 97.5}}
    assert "14 days" in card(con)["sla"]["definition"] and "97.5 %" in card(con)["sla"]["definition"]


@pytest.mark.parametrize("data, message", [
    ({"blocking_severities": ["SEV-9"]}, "not a severity"),
    ({"scheduled_types": ["enhancement", "enhancement"]}, "listed twice"),
    ({"kpi_keys": ["nope"]}, "not a KPI"),
    ({"required_roles": ["CEO"]}, "not a sign-off role"),
    ({"sla_window_days": 0}, "sla_window_days"),
    ({"colour": "red"}, "colour"),
])
def test_rules_validation(con, data, message):
    with pytest.raises(cr.ClosureRulesError, match=message):
        cr.save_rules(con, data, local_operator("alice"))
    assert audit.trail(con).empty


def test_rules_from_broken_toml():
    with pytest.raises(cr.ClosureRulesError, match="not valid TOML"):
        cr.rules_from_toml("sla_window_days = [")


def test_unknown_criterion(con):
    with pytest.raises(ValueError, match="unknown closure criterion"):
        closure.evidence(con, "nope", T)
    with pytest.raises(KeyError):
        cr.definition("nope", cr.ClosureRules())


# --- CLI and demo -----------------------------------------------------------------------


def test_cli_closure_json_and_table(tmp_path, capsys):
    path = tmp_path / "c.duckdb"
    con = db.connect(path)
    add(con, type="incident", severity="SEV-1", opened_at=T - 2 * D)  # open: fails criterion 1
    con.close()
    assert main(["closure", "--db", str(path), "--as-of", "2026-10-14", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == [c.key for c in cr.CRITERIA]
    assert all({"criterion", "status", "detail", "evidence_count"} <= set(r) for r in rows)
    assert rows[0]["status"] == "fail" and rows[0]["evidence_count"] == 1
    assert rows[0]["as_of"] == "2026-10-15T00:00:00Z"  # a bare date: the end of that day
    assert main(["closure", "--db", str(path), "--as-of", "2026-10-14T12:00:00+02:00"]) == 0
    out = capsys.readouterr().out
    assert "as of 2026-10-14T10:00:00Z" in out and "FAIL" in out and "No open critical or high defects" in out


def test_cli_closure_refuses_broken_saved_rules(tmp_path, capsys):
    path = tmp_path / "c.duckdb"
    con = db.connect(path)
    db.set_setting(con, cr.SETTING, "sla_window_days = -1")
    con.close()
    assert main(["closure", "--db", str(path)]) == 2
    assert "sla_window_days" in capsys.readouterr().err


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_demo_data_gives_all_five_criteria(con):
    from analytics.demo.loader import load_demo

    load_demo(con, n_tickets=1500, actor=local_operator("demo"))
    frame = closure.evaluate(con, datetime(2026, 10, 1))
    assert list(frame["key"]) == [c.key for c in cr.CRITERIA]
    assert frame["status"].isin(cr.STATUSES).all() and frame["detail"].str.len().gt(20).all()
    for key, count in zip(frame["key"], frame["evidence_count"]):
        assert len(closure.evidence(con, key, datetime(2026, 10, 1))) == count
    # The demo schedules most enhancements: the open ones are judged, not "not measurable".
    assert frame.set_index("key").loc["enhancements", "status"] != cr.NOT_MEASURABLE
    records = closure.cli_records(con, datetime(2026, 10, 1))
    assert [r["status"] for r in records] == list(frame["status"])


@pytest.mark.parametrize(("statuses", "word", "why"), [
    (["pass", "pass"], "ready", "All 2 criteria pass."),
    (["pass", "at risk"], "at risk", "No criterion fails, but 1 of 2 are at risk: C1."),
    (["not measurable", "at risk"], "not yet", "1 of 2 criteria cannot be measured yet: C0"),
    (["fail", "not measurable"], "not yet", "1 of 2 criteria fail: C0."),
])
def test_the_verdict_says_ready_not_yet_or_at_risk_and_why(statuses, word, why):
    card = pd.DataFrame({"criterion": [f"C{i}" for i in range(len(statuses))], "status": statuses})
    got_word, got_why = closure.verdict(card)
    assert got_word == word and got_why.startswith(why)
