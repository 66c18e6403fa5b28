"""Roles, the permission matrix, identities and role resolution (analytics/store/auth.py)."""

from __future__ import annotations

import getpass
import json

import pytest

from analytics import cli_engagements
from analytics.store import audit, auth, db
from analytics.store.auth import Identity, Permission, PermissionDenied, RolePolicy, local_operator

# The matrix as issue #7 words it, written out by hand (not derived from the code):
# viewer reads and exports; analyst also uploads, edits mappings and deletes own datasets;
# admin also changes policies, calendars, targets, closure rules, settings, roles and deletes
# any dataset; approver signs off and otherwise reads like a viewer.
EXPECTED = {
    "viewer": {"read", "export"},
    "analyst": {"read", "export", "upload", "edit_mappings", "delete_own_datasets"},
    "admin": {"read", "export", "upload", "edit_mappings", "delete_own_datasets",
              "change_policies", "change_calendars", "change_targets", "change_closure_rules",
              "change_settings", "manage_roles", "delete_any_dataset"},
    "approver": {"read", "export", "sign_off"},
}
EVERY_PERMISSION = sorted(set().union(*EXPECTED.values()))


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("permission", EVERY_PERMISSION)
def test_permission_matrix(role, permission):
    person = Identity(name="P", roles={role}, mode="shared")
    assert person.can(permission) is (permission in EXPECTED[role])


def test_every_permission_is_in_the_matrix_and_has_an_action_text():
    assert {p.value for p in Permission} == set(EVERY_PERMISSION)
    assert set(auth.ACTIONS) == set(Permission)


def test_roles_add_up_and_no_role_allows_nothing():
    both = Identity(name="P", roles={"analyst", "approver"}, mode="shared")
    assert both.can("upload") and both.can("sign_off") and not both.can("change_policies")
    nobody = Identity(name="P", mode="shared")
    assert not any(nobody.can(p) for p in Permission)
    assert nobody.role_text == "no role"


@pytest.mark.parametrize("roles, permission, message", [
    ({"viewer"}, "change_policies", "Jane Doe (viewer) may not change SLA policies: needs admin"),
    ({"viewer"}, "upload", "Jane Doe (viewer) may not upload ticket exports or registers: "
                           "needs analyst or admin"),
    ({"admin"}, "sign_off", "Jane Doe (admin) may not record or revoke sign-offs: needs approver"),
    ({"viewer", "approver"}, "change_targets",
     "Jane Doe (viewer, approver) may not change KPI targets: needs admin"),
    (set(), "read", "Jane Doe (no role) may not read the dashboard: "
                    "needs viewer or analyst or admin or approver"),
])
def test_require_refuses_with_a_message_naming_who_what_and_the_role_needed(roles, permission, message):
    jane = Identity(name="Jane Doe", email="jane@x.org", roles=roles, mode="shared")
    with pytest.raises(PermissionDenied) as err:
        auth.require(jane, permission)
    assert str(err.value) == message
    assert isinstance(err.value, PermissionError)
    assert err.value.identity is jane and err.value.permission == permission


def test_require_returns_the_identity_when_allowed():
    jane = Identity(name="Jane Doe", roles={"admin"}, mode="shared")
    assert auth.require(jane, Permission.CHANGE_POLICIES) is jane


def test_a_plain_name_is_refused():
    """Nobody gets every role by passing a name (issue #16): only a typed Identity acts."""
    for bad in ("cli:ops", "", "  ", None, 42, b"admin"):
        with pytest.raises(TypeError, match=r"actor must be an auth\.Identity \(use auth\.local_operator"):
            auth.as_identity(bad)
        with pytest.raises(TypeError, match="actor must be an auth.Identity"):
            auth.require(bad, "read")
        with pytest.raises(TypeError, match="actor must be an auth.Identity"):
            auth.require_delete(bad, "cli:ops")


# What a plain name was recorded as before issue #16 (as_identity(name).label), written out by
# hand: local_operator(name) must record the same, so audit trails read the same as before.
@pytest.mark.parametrize("name, label", [
    ("cli:ops", "cli:ops"),
    ("local:root", "local:root"),
    ("demo", "demo"),
    ("hypercare-upgrade", "hypercare-upgrade"),
    ("Ops Night Shift", "Ops Night Shift"),
    ("  Desk\n4 <x> ", "Desk 4 x"),
])
def test_local_operator_has_every_role_and_the_label_a_name_had(name, label):
    who = local_operator(name)
    assert who.label == label and who.name == label and who.email is None
    assert who.roles == set(EXPECTED) and who.mode == "local"
    assert who.permissions == set(Permission)
    assert who == Identity(name=name, roles=auth.ALL_ROLES, mode="local")  # what as_identity(name) built
    assert auth.require(who, "sign_off") is who and auth.require_delete(who, "someone else") is who


def test_local_operator_needs_a_name():
    for bad in ("", "  ", "\n"):
        with pytest.raises(ValueError, match="needs a name"):
            local_operator(bad)
    for bad in (None, 42, Identity(name="x")):
        with pytest.raises(TypeError):
            local_operator(bad)


def test_the_cli_acts_as_a_named_local_operator(monkeypatch):
    monkeypatch.delenv("HYPERCARE_OPERATOR", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    who = cli_engagements.operator()
    assert isinstance(who, Identity) and who.label == "cli:root" and who.roles == set(EXPECTED)
    monkeypatch.setenv("HYPERCARE_OPERATOR", "Night Ops")
    assert cli_engagements.operator().label == "Night Ops"


@pytest.mark.parametrize("name, email, label", [
    ("Jane Doe", "Jane@X.org", "Jane Doe <jane@x.org>"),
    ("Jane Doe", None, "Jane Doe"),
    ("", "jane@x.org", "jane@x.org"),
    ("jane@x.org", "jane@x.org", "jane@x.org"),
    # a name with a line break or brackets can't forge a second line or address in the log
    ("Eve\nactor: Admin <boss@x.org>", "eve@x.org", "Eve actor: Admin boss@x.org <eve@x.org>"),
])
def test_label(name, email, label):
    assert Identity(name=name, email=email, mode="shared").label == label


def test_identity_rejects_unknown_roles_and_modes():
    with pytest.raises(ValueError, match="unknown role"):
        Identity(name="P", roles={"superuser"})
    with pytest.raises(ValueError, match="mode"):
        Identity(name="P", mode="cloud")
    assert Identity(name="P", roles=["Admin "]).roles == {"admin"}  # case and space forgiven


def test_local_identity_uses_the_operator_name(monkeypatch):
    monkeypatch.setenv("HYPERCARE_OPERATOR", "Ops Night Shift")
    me = auth.local_identity()
    assert me.label == "Ops Night Shift" and me.roles == set(EXPECTED) and me.mode == "local"
    assert me == local_operator("Ops Night Shift")
    monkeypatch.delenv("HYPERCARE_OPERATOR")
    monkeypatch.setattr(getpass, "getuser", lambda: "jdoe")
    assert auth.local_identity().name == "local:jdoe"
    assert auth.operator_name("cli") == "cli:jdoe"

    def no_login():
        raise OSError("no user")
    monkeypatch.setattr(getpass, "getuser", no_login)
    assert auth.operator_name() == "local:unknown"


def test_delete_own_versus_any_dataset():
    ana = Identity(name="Ana Lyst", email="ana@x.org", roles={"analyst"}, mode="shared")
    assert auth.require_delete(ana, "Ana Lyst <ana@x.org>") is ana
    assert auth.require_delete(ana, "Ana L. (renamed) <ANA@x.org>") is ana  # same e-mail
    for other in ("Bob <bob@x.org>", "demo", None, ""):
        with pytest.raises(PermissionDenied, match="delete datasets uploaded by others: needs admin"):
            auth.require_delete(ana, other)
    boss = Identity(name="Boss", email="boss@x.org", roles={"admin"}, mode="shared")
    assert auth.require_delete(boss, "Bob <bob@x.org>") is boss
    viewer = Identity(name="Vi", email="vi@x.org", roles={"viewer"}, mode="shared")
    with pytest.raises(PermissionDenied):
        auth.require_delete(viewer, "Vi <vi@x.org>")  # owning is not enough without the role


# --- roles from claims ------------------------------------------------------------------------


def test_claim_values_equal_to_role_names_count_by_default():
    claims = {"sub": "u1", "name": "Jane", "email": "jane@x.org", "roles": ["analyst", "other"]}
    who = auth.identity_from_claims(claims, RolePolicy())
    assert who.roles == {"analyst"} and who.mode == "shared" and who.subject == "u1"
    assert who.label == "Jane <jane@x.org>"
    assert auth.roles_from_claims({"roles": "approver"}, RolePolicy()) == {"approver"}


def test_configured_claim_values_replace_the_role_names():
    policy = RolePolicy.from_config({
        "claim": "groups",
        "claim_values": {"hc-admins": ["admin", "approver"], "support": "analyst"},
    })
    assert auth.roles_from_claims({"groups": ["support", "hc-admins"]}, policy) == {
        "admin", "approver", "analyst"}
    # once values are configured, a group merely named "admin" grants nothing
    assert auth.roles_from_claims({"groups": ["admin"]}, policy) == set()
    assert auth.roles_from_claims({"roles": ["admin"]}, policy) == set()  # other claim


def test_nested_claim_path_for_keycloak():
    policy = RolePolicy.from_config({"claim": "realm_access.roles"})
    claims = {"realm_access": {"roles": ["viewer", "offline_access"]}}
    assert auth.roles_from_claims(claims, policy) == {"viewer"}
    assert auth.roles_from_claims({"realm_access": "x"}, policy) == set()
    assert auth.roles_from_claims({"realm_access": {"roles": 3}}, policy) == set()


def test_email_maps_add_roles_unless_the_email_is_unverified():
    policy = RolePolicy.from_config({"emails": {"Boss@X.org": ["admin"]}})
    settings_map = {"boss@x.org": frozenset({"approver"}), "ana@x.org": frozenset({"analyst"})}
    assert auth.roles_from_claims({"email": "boss@x.org"}, policy, settings_map) == {"admin", "approver"}
    assert auth.roles_from_claims({"email": "ANA@x.org", "roles": ["viewer"]}, policy, settings_map) == {
        "analyst", "viewer"}
    assert auth.roles_from_claims({"email": "boss@x.org", "email_verified": False}, policy,
                                  settings_map) == set()


def test_unknown_users_get_no_role_unless_a_default_is_configured():
    stranger = {"sub": "s", "email": "who@else.org"}
    assert auth.identity_from_claims(stranger, RolePolicy()).roles == set()
    assert auth.roles_from_claims(stranger, RolePolicy.from_config({"default": ["viewer"]})) == {"viewer"}
    # the default is for people matched by nothing, not added to matched people
    open_policy = RolePolicy.from_config({"default": ["viewer"]})
    assert auth.roles_from_claims({"roles": ["approver"]}, open_policy) == {"approver"}


def test_no_claim_reads_only_the_email_maps():
    policy = RolePolicy.from_config({"claim": "", "emails": {"a@x.org": "viewer"}})
    assert auth.roles_from_claims({"roles": ["admin"], "email": "a@x.org"}, policy) == {"viewer"}


@pytest.mark.parametrize("section, message", [
    ({"claim_values": {"g": ["root"]}}, "claim_values] 'g': unknown role"),
    ({"emails": {"not-an-email": ["viewer"]}}, "not an e-mail"),
    ({"emails": {"a@x.org": 5}}, "expected a role or a list"),
    ({"default": ["owner"]}, "unknown role"),
    ({"claims": "roles"}, "unknown key"),
])
def test_bad_role_config_is_refused(section, message):
    with pytest.raises(ValueError, match=message):
        RolePolicy.from_config(section)


@pytest.mark.parametrize("claims, name", [
    ({"name": "Jane", "preferred_username": "jd", "email": "j@x.org", "sub": "1"}, "Jane"),
    ({"preferred_username": "jd", "email": "j@x.org", "sub": "1"}, "jd"),
    ({"email": "j@x.org", "sub": "1"}, "j@x.org"),
    ({"sub": "1"}, "1"),
])
def test_display_name_falls_back(claims, name):
    assert auth.identity_from_claims(claims, RolePolicy()).name == name


# --- the role map setting --------------------------------------------------------------------


def test_role_map_round_trips_through_the_setting(con):
    assert auth.role_map(con) == {}
    admin = Identity(name="Boss", roles={"admin"}, mode="shared")
    audit.save_role_map(con, {"Ana@X.org": ["approver", "analyst"], "vi@x.org": "viewer"}, admin)
    stored = json.loads(db.get_setting(con, auth.ROLE_MAP_SETTING))
    assert stored == {"ana@x.org": ["analyst", "approver"], "vi@x.org": ["viewer"]}
    assert auth.role_map(con) == {"ana@x.org": {"analyst", "approver"}, "vi@x.org": {"viewer"}}


def test_only_admins_change_the_role_map(con):
    ana = Identity(name="Ana", roles={"analyst", "approver"}, mode="shared")
    with pytest.raises(PermissionDenied, match="may not change who has which role: needs admin"):
        audit.save_role_map(con, {"ana@x.org": ["admin"]}, ana)
    assert db.get_setting(con, auth.ROLE_MAP_SETTING) is None


@pytest.mark.parametrize("value, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected an object"),
    ({"x@y.org": ["emperor"]}, "unknown role"),
])
def test_bad_role_maps_are_refused(con, value, message):
    with pytest.raises(ValueError, match=message):
        auth.parse_role_map(value)
    if not isinstance(value, str):
        with pytest.raises(ValueError):
            audit.save_role_map(con, value, local_operator("cli:test"))
        assert db.get_setting(con, auth.ROLE_MAP_SETTING) is None
    assert auth.parse_role_map("") == {} and auth.parse_role_map(None) == {}


def test_role_map_rows_round_trip():
    mapping = {"b@x.org": ["approver", "viewer"], "a@x.org": ["admin"]}
    rows = auth.role_map_rows(mapping)
    assert rows == [
        {"email": "a@x.org", "viewer": False, "analyst": False, "admin": True, "approver": False},
        {"email": "b@x.org", "viewer": True, "analyst": False, "admin": False, "approver": True},
    ]
    edited = [*rows, {"email": "  ", "viewer": True}, {"email": "c@x.org", "viewer": False},
              {"email": None, "admin": True}, {"email": "a@x.org", "analyst": True, "admin": None}]
    assert auth.role_map_from_rows(edited) == {"a@x.org": ["analyst", "admin"], "b@x.org": ["viewer", "approver"]}
