"""Roles enforced in the core: every write refuses a person whose roles don't allow it,
leaves the store as it was, and records the signed-in person's label when it is allowed.

The UI only disables controls; these tests call the core directly, as a crafted request
reaching a write would.
"""

from __future__ import annotations

import ast
from datetime import date, datetime
from pathlib import Path

import pytest

from analytics import uploads
from analytics.connectors import statuspage, sync
from analytics.connectors.base import Watermark
from analytics.demo.loader import load_demo
from analytics.governance import closure_rules, pir_register, signoff
from analytics.ingest import datasets, profiles
from analytics.ingest.pipeline import apply_all, apply_staged, ingest_file
from analytics.ingest.stage import stage_file
from analytics.sla.policy import default_policy, policy_versions, save_policy
from analytics.store import audit, auth, engagements
from analytics.store import roles as engagement_roles
from analytics.store.auth import Identity, PermissionDenied, local_operator
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
    refused(con, lambda: audit.save_role_map(con, {"vera@x.org": ["admin"]}, VIEWER),
            "Vera (viewer) may not change who has which role: needs admin")
    audit.save_role_map(con, {"vera@x.org": ["analyst"]}, ADMIN)
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


def test_a_local_operator_has_every_role_and_is_recorded_by_its_name(con):
    """The CLI and scripts act as auth.local_operator(name): recorded as the name, nothing refused."""
    ops = local_operator("cli:ops")
    ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=ops)
    signoff.record(con, "Support Lead", "Lee", date.today(), "", ops)
    audit.set_setting(con, "go_live_date", "2026-09-01", ops)
    assert {a for _, a in audit_actors(con)} == {"cli:ops"}
    assert con.execute("SELECT uploaded_by FROM datasets").fetchall() == [("cli:ops",)]


# --- a plain name is refused by every write (issue #16) ---------------------------------------------

PLAIN = "cli:ops"  # what the CLI passed before: once read as a local operator with every role


def _engagement_writes(tmp_path) -> dict[str, tuple]:
    """Writes on files: (call with the actor, what must stay as it was)."""
    catalog = tmp_path / "installation.duckdb"
    engagements.create(catalog, "sn", "SN", go_live=None, actor=local_operator("setup"))
    listed = lambda: [e.slug for e in engagements.list_engagements(catalog)]  # noqa: E731
    new_catalog, profile_dir = tmp_path / "new.duckdb", tmp_path / "profiles"
    return {
        "engagements.create_catalog": (lambda a: engagements.create_catalog(new_catalog, a), new_catalog.exists),
        "engagements.create": (lambda a: engagements.create(catalog, "x", "X", go_live=None, actor=a), listed),
        "engagements.delete": (lambda a: engagements.delete(catalog, "sn", a), listed),
        "engagements.discard_empty": (lambda a: engagements.discard_empty(catalog, "sn", a, "why"), listed),
        "profiles.save_profile": (lambda a: profiles.save_profile(PROFILE, profile_dir, actor=a), profile_dir.exists),
    }


class _StatusPage:
    """A Statuspage public API answering one resolved incident `incident_id` (a sync without a server)."""

    def __init__(self, incident_id: str):
        at = "2026-09-07T09:00:00.000Z"
        self.body = {"page": {"name": "Status"}, "incidents": [{
            "id": incident_id, "name": "API down", "status": "resolved", "impact": "major", "created_at": at,
            "updated_at": at, "started_at": at, "resolved_at": at, "monitoring_at": None, "shortlink": "",
            "components": [{"name": "API"}], "incident_updates": [{
                "id": f"{incident_id}-u", "status": "resolved", "body": "fixed", "incident_id": incident_id,
                "created_at": at, "updated_at": at, "display_at": at, "affected_components": None}]}]}

    def get_json(self, path, params=None):
        return self.body

    def post_json(self, path, body):
        raise AssertionError("not used")


STATUSPAGE = {"base_url": "http://status.invalid"}


def _store_writes(con) -> dict[str, object]:
    """Writes on a store, each with arguments that an identity with every role gets through."""
    policy = default_policy("UTC").model_copy(update={"version": "v2", "effective_from": date(2026, 1, 1)})
    rules, today = closure_rules.ClosureRules(sla_min_sample=3), date.today()

    def staged(a, apply=apply_staged, name=b"T-9"):
        with stage_file(data=CSV.replace(b"T-1", name), name="u.csv", profile=PROFILE) as s:
            return apply(con, s, uploaded_by=a)

    def staged_all(a, apply, name):
        with stage_file(data=CSV.replace(b"T-1", name), name="all.csv", profile=PROFILE) as s:
            return apply(con, [s], uploaded_by=a)

    def pulled(incident_id: str):
        return statuspage.CONNECTOR.pull(_StatusPage(incident_id), STATUSPAGE, Watermark(None, None))

    return {
        "pipeline.ingest_file": lambda a: ingest_file(con, data=CSV.replace(b"T-1", b"T-2"), name="t.csv",
                                                    profile=PROFILE, uploaded_by=a),
        "pipeline.apply_staged": staged,
        "uploads.load": lambda a: uploads.load(con, data=CSV.replace(b"T-1", b"T-3"), name="l.csv",
                                               profile=PROFILE, uploaded_by=a),
        "uploads.apply": lambda a: staged(a, uploads.apply, b"T-4"),
        "pipeline.apply_all": lambda a: staged_all(a, apply_all, b"T-5"),
        "uploads.apply_all": lambda a: staged_all(a, uploads.apply_all, b"T-6"),
        "sync.sync": lambda a: sync.sync(con, "statuspage", started_by=a, client=_StatusPage("sp-1"),
                                         config=STATUSPAGE),
        "sync.apply": lambda a: sync.apply(con, pulled("sp-2"), started_by=a,
                                           result=sync.begin("statuspage", local_operator("setup"))),
        "sync.reset_watermark": lambda a: sync.reset_watermark(con, "statuspage", actor=a),
        "pir_register.ingest_register": lambda a: pir_register.ingest_register(con, data=REGISTER, name="p.csv",
                                                                              actor=a),
        "loader.load_demo": lambda a: load_demo(con, n_tickets=20, actor=a),
        "datasets.delete_dataset": lambda a: datasets.delete_dataset(con, 1, a),
        "policy.save_policy": lambda a: save_policy(con, policy, a),
        "audit.set_setting": lambda a: audit.set_setting(con, "go_live_date", "2026-09-01", a),
        "audit.set_settings": lambda a: audit.set_settings(con, {"max_upload_mb": "5"}, a),
        "closure_rules.save_rules": lambda a: closure_rules.save_rules(con, rules, a),
        "audit.save_role_map": lambda a: audit.save_role_map(con, {"vera@x.org": ["admin"]}, a),
        "roles.save": lambda a: engagement_roles.save(con, {"vera@x.org": ["admin"]}, a),
        "signoff.record": lambda a: signoff.record(con, "Support Lead", "Dana", today, "", a),
        "signoff.revoke": lambda a: signoff.revoke(con, "IT Director", "changed mind", a),
    }


def _public_writes() -> set[str]:
    """Every public function of analytics/ (module.function) taking an Identity (by its annotation), except the
    helpers of auth itself and the one that only reads how a person acts in an engagement."""
    found = set()
    for path in sorted(REPO_ROOT.joinpath("analytics").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                if any(a.annotation is not None and ast.unparse(a.annotation) in ("Identity", "auth.Identity")
                       for a in [*node.args.args, *node.args.kwonlyargs]):
                    found.add(f"{path.stem}.{node.name}")
    # sync.begin only checks that the identity may upload; the write is sync.apply's.
    return found - {"auth.as_identity", "auth.require", "auth.require_delete", "roles.in_engagement", "sync.begin"}


STORE_WRITES = sorted(_store_writes(None))
FILE_WRITES = ["engagements.create_catalog", "engagements.create", "engagements.delete",
               "engagements.discard_empty", "profiles.save_profile"]


def test_every_public_write_is_checked_for_a_plain_name():
    assert _public_writes() == set(STORE_WRITES) | set(FILE_WRITES)


@pytest.fixture
def filled(con):
    """A store with an upload and a current sign-off, so each write would have work to do."""
    ingest_file(con, data=CSV, name="t.csv", profile=PROFILE, uploaded_by=local_operator("setup"))
    signoff.record(con, "IT Director", "Dana", date.today(), "", local_operator("setup"))
    # A watermark to reset (as a sync leaves it; a whole sync per test would cost more).
    audit.set_setting(con, sync.WATERMARK_KEY.format(name="statuspage"),
                      Watermark(datetime(2026, 9, 7, 9), "sp-0").to_json(), local_operator("setup"))
    return con


@pytest.mark.parametrize("write", STORE_WRITES)
def test_a_plain_name_is_refused_by_every_store_write(filled, write):
    call = _store_writes(filled)[write]
    before = snapshot(filled)
    with pytest.raises(TypeError, match=r"^actor must be an auth\.Identity \(use auth\.local_operator\('name'\) "
                                        r"for the CLI and scripts\), not str 'cli:ops'$"):
        call(PLAIN)
    assert snapshot(filled) == before
    call(local_operator(PLAIN))  # the same call with the typed local operator goes through
    assert snapshot(filled) != before


@pytest.mark.parametrize("write", FILE_WRITES)
def test_a_plain_name_is_refused_by_every_write_on_files(tmp_path, write):
    call, state = _engagement_writes(tmp_path)[write]
    before = state()
    with pytest.raises(TypeError, match="actor must be an auth.Identity"):
        call(PLAIN)
    assert state() == before
    call(local_operator(PLAIN))
    assert state() != before


# --- the UI passes the session's Identity to every write ----------------------------------------

# name -> (keyword, position, the module it is called through or None): where the actor goes.
WRITES = {"ingest_file": ("uploaded_by", None, None), "apply_staged": ("uploaded_by", None, None),
          "load": ("uploaded_by", None, "uploads"), "apply": ("uploaded_by", None, "uploads"),
          "ingest_register": ("actor", None, None), "delete_dataset": ("actor", 2, None),
          "save_profile": ("actor", None, None), "load_demo": ("actor", None, None),
          "save_policy": ("who", 2, None), "set_settings": ("actor", 2, "audit"),
          "set_setting": ("actor", 3, "audit"), "save_rules": ("actor", 2, None),
          "record": ("actor", 5, "signoff"), "revoke": ("actor", 3, "signoff"), "save_role_map": ("actor", 2, "audit"),
          "save": ("actor", 2, "engagement_roles"), "create_catalog": ("actor", 1, None),
          "create": ("actor", None, "engagements"), "delete": ("actor", 2, "engagements"),
          "discard_empty": ("actor", 2, "engagements"),
          # ui/engagement_state's helpers hand their `actor` on to engagements.create and load_demo
          "demo_engagement": ("actor", 1, "engagement_state"), "load_demo_data": ("actor", 1, "engagement_state")}


# The app's own bookkeeping, done for nobody in particular: the first start makes the catalog
# (as local_operator("hypercare")) and loads the demo (as demo.loader.DEMO_OPERATOR, "demo");
# engagement_state's helpers pass on the `actor` they are given (checked where they are called).
APP_WRITES = {("ui/engagement_state.py", "create_catalog"), ("ui/engagement_state.py", "create"),
              ("ui/engagement_state.py", "load_demo")}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in WRITES:
                through = WRITES[name][2]
                if through is None or (isinstance(func, ast.Attribute) and ast.unparse(func.value) == through):
                    yield name, node


def test_every_write_in_the_ui_passes_the_session_actor():
    """The core refuses anything but an Identity; a write called from a page must also pass the
    session's own (`ui_auth.actor()`), never a local operator with every role."""
    missing, seen = [], 0
    for path in sorted([*REPO_ROOT.joinpath("pages").glob("*.py"), *REPO_ROOT.joinpath("ui").glob("*.py")]):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            keyword, position, _ = WRITES[name]
            arg = next((k.value for k in call.keywords if k.arg == keyword), None)
            if arg is None and position is not None and len(call.args) > position:
                arg = call.args[position]
            seen += 1
            if (str(path.relative_to(REPO_ROOT)), name) in APP_WRITES:
                continue
            if arg is None or ast.unparse(arg) != "ui_auth.actor()":
                missing.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno} {name}")
    assert seen >= 20, "the scan found too few writes: has the UI's structure changed?"
    assert not missing, f"writes without the session's identity: {missing}"


def test_ui_actor_is_the_session_identity(monkeypatch):
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui import auth as ui_auth

        who = ui_auth.actor()
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
