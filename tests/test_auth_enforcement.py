"""Roles enforced in the core: every write refuses a person whose roles don't allow it,
leaves the store as it was, and records the signed-in person's label when it is allowed.

The UI only disables controls; these tests call the core directly, as a crafted request
reaching a write would.
"""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from analytics import audit, auth, closure_rules, datasets, pir_register, profiles, signoff
from analytics.auth import Identity, PermissionDenied
from analytics.demo_loader import load_demo
from analytics.ingest import ingest_file
from analytics.sla_policy import default_policy, policy_versions, save_policy
from tests.test_ingest import PROFILE

REPO_ROOT = Path(__file__).resolve().parent.parent
CSV = b"Ticket ID,Title,Priority,Status,Created,Resolved,Team\nT-1,Login fails,P1,Open,2026-09-07 09:00,,Id\n"
REGISTER = b"Ticket ID,Completed\nT-1,2026-09-10\n"


def person(name: str, *roles: str) -> Identity:
    return Identity(name=name, email=f"{name.lower()}@x.org", roles=roles, mode="shared")


VIEWER, ANALYST, ADMIN, APPROVER = (person("Vera", "viewer"), person("Ana", "analyst"),
                                    person("Adam", "admin"), person("Sam", "approver"))
OTHER_ANALYST = person("Otto", "analyst")
TABLES = ("tickets", "datasets", "audit_log", "settings", "sla_policies", "signoff_events", "pir_registers")


def snapshot(con) -> dict[str, list]:
    return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


def audit_actors(con) -> list[tuple[str, str]]:
    return [tuple(r) for r in con.execute("SELECT action, actor FROM audit_log ORDER BY seq").fetchall()]


def refused(con, fn, message: str) -> None:
    """`fn()` raises PermissionDenied with `message` and changes nothing in the store."""
    before = snapshot(con)
    with pytest.raises(PermissionDenied) as err:
        fn()
    assert str(err.value) == message
    assert snapshot(con) == before


# --- uploads ----------------------------------------------------------------------------------


def test_upload_needs_analyst_and_records_the_uploader(con):
    refused(con, lambda: ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=VIEWER),
            "Vera (viewer) may not upload ticket exports or registers: needs analyst or admin")
    refused(con, lambda: ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=APPROVER),
            "Sam (approver) may not upload ticket exports or registers: needs analyst or admin")
    result = ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=ANALYST)
    assert con.execute("SELECT uploaded_by FROM datasets WHERE dataset_id = ?",
                       [result.dataset_id]).fetchall() == [("Ana <ana@x.org>",)]
    assert audit_actors(con) == [("upload", "Ana <ana@x.org>")]


def test_pir_register_upload_needs_analyst(con):
    refused(con, lambda: pir_register.ingest_register(con, data=REGISTER, name="pir.csv", actor=VIEWER),
            "Vera (viewer) may not upload ticket exports or registers: needs analyst or admin")
    pir_register.ingest_register(con, data=REGISTER, name="pir.csv", actor=ADMIN)
    assert con.execute("SELECT uploaded_by FROM pir_registers").fetchall() == [("Adam <adam@x.org>",)]
    assert audit_actors(con) == [("pir_register.upload", "Adam <adam@x.org>")]


def test_loading_demo_data_is_an_upload(con):
    refused(con, lambda: load_demo(con, n_tickets=100, actor=VIEWER),
            "Vera (viewer) may not upload ticket exports or registers: needs analyst or admin")
    load_demo(con, n_tickets=100, actor=ANALYST)
    uploaders = {r[0] for r in con.execute("SELECT uploaded_by FROM datasets").fetchall()}
    assert uploaders == {"Ana <ana@x.org>"}


# --- deletions --------------------------------------------------------------------------------


def test_analysts_delete_their_own_datasets_admins_any(con):
    mine = ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=ANALYST).dataset_id
    refused(con, lambda: datasets.delete_dataset(con, mine, actor=VIEWER),
            "Vera (viewer) may not delete datasets they uploaded: needs analyst or admin")
    refused(con, lambda: datasets.delete_dataset(con, mine, actor=OTHER_ANALYST),
            "Otto (analyst) may not delete datasets uploaded by others: needs admin")
    refused(con, lambda: datasets.delete_dataset(con, 999, actor=VIEWER),  # nothing to find, still no
            "Vera (viewer) may not delete datasets they uploaded: needs analyst or admin")
    assert datasets.delete_dataset(con, mine, actor=ANALYST) == 1
    theirs = ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=OTHER_ANALYST).dataset_id
    assert datasets.delete_dataset(con, theirs, actor=ADMIN) == 1
    assert [a for a in audit_actors(con) if a[0] == "dataset.delete"] == [
        ("dataset.delete", "Ana <ana@x.org>"), ("dataset.delete", "Adam <adam@x.org>")]


# --- policies, settings, targets, closure rules, roles ---------------------------------------------


def test_only_admins_save_sla_policies(con):
    policy = default_policy("UTC").model_copy(update={"version": "v2", "effective_from": date(2026, 1, 1)})
    for who in (VIEWER, ANALYST, APPROVER):
        refused(con, lambda who=who: save_policy(con, policy, who=who),
                f"{who.name} ({who.role_text}) may not change SLA policies: needs admin")
    save_policy(con, policy, who=ADMIN)
    assert list(policy_versions(con)["saved_by"]) == ["Adam <adam@x.org>"]
    assert audit_actors(con) == [("policy.save", "Adam <adam@x.org>")]


@pytest.mark.parametrize("key, needed", [
    ("go_live_date", "change settings"),
    ("max_upload_mb", "change settings"),
    ("kpi_target.mttr_sev1", "change KPI targets"),
    ("kpi_outage_severities", "change KPI targets"),
    ("pir_sev2_min_hours", "change SLA policies"),
    ("pir_calendar", "change business calendars"),
    ("closure_rules", "change closure rules"),
    ("auth_role_map", "change who has which role"),
])
def test_settings_need_admin(con, key, needed):
    for who in (VIEWER, ANALYST, APPROVER):
        refused(con, lambda who=who: audit.set_setting(con, key, "1", who),
                f"{who.name} ({who.role_text}) may not {needed}: needs admin")
    assert audit.set_setting(con, key, "1", ADMIN)
    assert audit_actors(con) == [("setting.change", "Adam <adam@x.org>")]


def test_one_forbidden_key_refuses_the_whole_batch(con):
    analyst_and_approver = person("Mia", "analyst", "approver")
    refused(con, lambda: audit.set_settings(con, {"go_live_date": "2026-09-01", "kpi_target.mtta": "5"},
                                            analyst_and_approver),
            "Mia (analyst, approver) may not change settings: needs admin")


def test_only_admins_save_closure_rules(con):
    rules = closure_rules.ClosureRules(sla_min_sample=3)
    refused(con, lambda: closure_rules.save_rules(con, rules, APPROVER),
            "Sam (approver) may not change closure rules: needs admin")
    assert closure_rules.save_rules(con, rules, ADMIN)
    assert audit_actors(con) == [("closure_rules.save", "Adam <adam@x.org>")]


def test_role_map_changes_are_audited(con):
    refused(con, lambda: auth.save_role_map(con, {"vera@x.org": ["admin"]}, VIEWER),
            "Vera (viewer) may not change who has which role: needs admin")
    auth.save_role_map(con, {"vera@x.org": ["analyst"]}, ADMIN)
    assert audit_actors(con) == [("setting.change", "Adam <adam@x.org>")]
    assert auth.role_map(con) == {"vera@x.org": {"analyst"}}


def test_mapping_profiles_need_analyst(tmp_path):
    refused_dir = tmp_path / "profiles"
    with pytest.raises(PermissionDenied, match="Vera \\(viewer\\) may not save mapping profiles: needs analyst"):
        profiles.save_profile(PROFILE, refused_dir, actor=VIEWER)
    assert not refused_dir.exists()
    assert profiles.save_profile(PROFILE, refused_dir, actor=ANALYST).exists()


# --- sign-off -----------------------------------------------------------------------------------


def test_only_approvers_sign_off_and_revoke(con):
    today = date.today()
    for who in (VIEWER, ANALYST, ADMIN):
        refused(con, lambda who=who: signoff.record(con, "IT Director", "Dana", today, "", who),
                f"{who.name} ({who.role_text}) may not record or revoke sign-offs: needs approver")
    signoff.record(con, "IT Director", "Dana", today, "ok", APPROVER)
    refused(con, lambda: signoff.revoke(con, "IT Director", "changed mind", ADMIN),
            "Adam (admin) may not record or revoke sign-offs: needs approver")
    signoff.revoke(con, "IT Director", "changed mind", APPROVER)
    assert audit_actors(con) == [("signoff.record", "Sam <sam@x.org>"), ("signoff.revoke", "Sam <sam@x.org>")]
    assert set(signoff.history(con)["recorded_by"]) == {"Sam <sam@x.org>"}


def test_a_plain_name_is_the_local_operator_with_every_role(con):
    """The CLI and scripts pass a name: recorded as given, nothing refused."""
    ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by="cli:ops")
    signoff.record(con, "Support Lead", "Lee", date.today(), "", "cli:ops")
    audit.set_setting(con, "go_live_date", "2026-09-01", "cli:ops")
    assert {a for _, a in audit_actors(con)} == {"cli:ops"}


# --- the UI passes the session's Identity to every write ----------------------------------------

WRITES = {"ingest_file": "uploaded_by", "ingest_register": "actor", "delete_dataset": "actor",
          "save_profile": "actor", "load_demo": "actor", "save_policy": "who", "set_settings": 2,
          "set_setting": 3, "save_rules": 2, "record": 5, "revoke": 3, "save_role_map": 2}


# The app's own bookkeeping, done for nobody in particular: the first start's demo load
# ("demo") and its marker setting (ui/state.ensure_demo_data).
# The first start's demo load runs as "demo"; a person's load passes state.actor() in `actor`.
APP_WRITES = {("ui/state.py", "load_demo"), ("ui/state.py", "set_setting"),
              ("ui/engagement_state.py", "load_demo"), ("ui/engagement_state.py", "set_setting")}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in WRITES:
                yield name, node


def test_every_write_in_the_ui_passes_state_actor():
    """A write called from a page without the session's Identity would run with the default
    (a local operator with every role) and bypass the roles; so every such call must pass
    `state.actor()` in the actor argument."""
    missing, seen = [], 0
    for path in sorted([*REPO_ROOT.joinpath("pages").glob("*.py"), *REPO_ROOT.joinpath("ui").glob("*.py")]):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name == "record" and not ast.unparse(call.func).startswith("signoff."):
                continue  # audit.record etc. run inside the core, not from the UI
            slot = WRITES[name]
            arg = (next((k.value for k in call.keywords if k.arg == slot), None) if isinstance(slot, str)
                   else call.args[slot] if len(call.args) > slot else None)
            seen += 1
            if (str(path.relative_to(REPO_ROOT)), name) in APP_WRITES:
                continue
            if arg is None or ast.unparse(arg) != "state.actor()":
                missing.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno} {name}")
    assert seen >= 8, "the scan found too few writes: has the UI's structure changed?"
    assert not missing, f"writes without the session's identity: {missing}"


def test_state_actor_is_the_session_identity(monkeypatch):
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui import state

        who = state.actor()
        st.write(f"{type(who).__name__}|{who.label}|{who.role_text}")

    monkeypatch.setenv("HYPERCARE_OPERATOR", "Desk 4")
    at = AppTest.from_function(script, default_timeout=30).run()
    assert at.markdown[0].value == "Identity|Desk 4|viewer, analyst, admin, approver"
    at = AppTest.from_function(script, default_timeout=30)
    at.secrets["auth"] = {"client_id": "x", "server_metadata_url": "http://127.0.0.1:1/x",
                          "redirect_uri": "http://127.0.0.1:1/oauth2callback", "cookie_secret": "y" * 20}
    at.user = {"is_logged_in": True, "sub": "v", "name": "Vera", "email": "vera@x.org", "roles": ["viewer"]}
    at.run()
    assert at.markdown[0].value == "Identity|Vera <vera@x.org>|viewer"
