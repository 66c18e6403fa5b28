"""Roles per engagement in shared mode (issue #13): an analyst of one go-live is a viewer of another."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics.store import audit, auth, engagements, roles, sharing
from analytics.store.auth import Identity, Permission, local_operator
from tests.test_auth_ui import AUTH
from tests.test_engagement_ui import catalog, two_engagements  # noqa: F401 - fixtures

ANA = Identity("Ana", "ana@x.org", frozenset({"analyst"}), mode="shared")


def test_a_listed_person_gets_the_engagements_roles_instead():
    assert roles.in_engagement(ANA, {"ana@x.org": frozenset({"viewer"})}).roles == {"viewer"}
    assert roles.in_engagement(ANA, {"bo@x.org": frozenset({"viewer"})}).roles == {"analyst"}
    assert roles.in_engagement(ANA, {}).roles == {"analyst"}


def test_an_installation_admin_stays_admin_and_an_unverified_email_counts_for_nothing():
    admin = Identity("Pat", "pat@x.org", frozenset({"admin"}), mode="shared")
    assert roles.in_engagement(admin, {"pat@x.org": frozenset({"viewer"})}).roles == {"admin", "viewer"}
    assert roles.in_engagement(ANA, {"ana@x.org": frozenset({"viewer"})},
                                          email_verified=False).roles == {"analyst"}
    local = auth.local_identity()
    assert roles.in_engagement(local, {local.email or "": frozenset({"viewer"})}) == local


def test_only_an_admin_may_change_an_engagements_list(tmp_path):
    from analytics.store import db

    con = db.connect(tmp_path / "e.duckdb", held=False)
    try:
        with pytest.raises(auth.PermissionDenied):
            roles.save(con, {"ana@x.org": ["viewer"]}, ANA)
        roles.save(con, {"Ana@X.org": ["viewer"]}, local_operator("cli:admin"))  # local operator: every role
        assert roles.read(con) == {"ana@x.org": frozenset({"viewer"})}
    finally:
        con.close()


def _script():
    import streamlit as st

    from ui import auth as ui_auth
    from ui import engagement_state

    engagement_state.settle()
    ui_auth.gate()
    engagement_state.open_installation()
    me = ui_auth.current_identity()
    st.write(f"ROLES in {engagement_state.current().slug}: {','.join(sorted(me.roles))}")


def _roles_in(slug: str) -> str:
    at = AppTest.from_function(_script, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "sub": "a", "name": "Ana", "email": "ana@x.org", "email_verified": True}
    at.query_params["engagement"] = slug
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return next(m.value for m in at.markdown if str(m.value).startswith("ROLES"))


def test_the_dashboard_gives_each_engagement_its_own_roles(catalog):  # noqa: F811
    with sharing.writing(catalog) as cat:
        audit.save_role_map(cat, {"ana@x.org": ["analyst"]}, local_operator("cli:admin"))
    with sharing.writing(engagements.resolve(catalog, "sn").path) as sn:
        roles.save(sn, {"ana@x.org": ["viewer"]}, local_operator("cli:admin"))

    assert _roles_in("demo") == "ROLES in demo: analyst"
    assert _roles_in("sn") == "ROLES in sn: viewer"
    # and the core refuses what the engagement's roles do not allow
    viewer = roles.in_engagement(ANA, {"ana@x.org": frozenset({"viewer"})})
    with pytest.raises(auth.PermissionDenied):
        auth.require(viewer, Permission.UPLOAD)


def test_settings_shows_the_engagements_list_and_saves_it_for_an_admin(catalog):  # noqa: F811
    from analytics.store import audit

    with sharing.writing(catalog) as cat:
        audit.save_role_map(cat, {"pat@x.org": ["admin"]}, local_operator("cli:admin"))
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "sub": "p", "name": "Pat", "email": "pat@x.org", "email_verified": True}
    at.query_params["engagement"] = "sn"
    at.run()
    at.switch_page("pages/settings.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Roles in this engagement: ServiceNow 2016" in str(h.value) for h in at.subheader)
    at.button(key="eng_role_map_save").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with sharing.reading(engagements.resolve(catalog, "sn").path) as con:
        trail = audit.trail(con, action=audit.SETTING_CHANGE)
    assert trail[["actor", "object"]].values.tolist() == [["Pat <pat@x.org>", "setting:engagement_role_map"]]
