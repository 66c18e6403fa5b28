"""The sign-in gate, banner and identity of ui/auth.py, driven headless with AppTest.

The real OpenID Connect round trip (st.login against a provider) is in
tests/browser/test_oidc.py; here `AppTest.user` stands in for the ID-token claims.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.ingest.stage import DEFAULT_MAX_UPLOAD_MB
from analytics.store import audit, auth, reachability
from analytics.store.auth import local_operator

REPO_ROOT = Path(__file__).resolve().parent.parent
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "test-secret-long-enough",
    "client_id": "hypercare",
    "client_secret": "x",
    "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
}


def _page():
    """A stand-in for app.py: the gate, then a page that says who it runs for."""
    import streamlit as st

    from ui import auth as ui_auth

    me = ui_auth.gate()
    st.write(f"PAGE for {me.label} as {me.role_text}; actor={ui_auth.actor_label()}")


def run(secrets: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=30)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.info, *at.warning, *at.error, *at.success, *at.caption,
                               *at.title)]
    return "\n".join(str(p) for p in parts)


def page_shown(at: AppTest) -> bool:
    return any(str(m.value).startswith("PAGE for") for m in at.markdown)


def test_local_mode_shows_the_banner_and_runs_as_the_local_operator(monkeypatch):
    monkeypatch.setenv("HYPERCARE_OPERATOR", "Night Ops")
    at = run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "Local mode: single local user, everything allowed — see docs/auth.md to enable sign-in"]
    assert "Local user: Night Ops (every role)" in [c.value for c in at.sidebar.caption]
    assert any(m.value == "PAGE for Night Ops as viewer, analyst, admin, approver; actor=Night Ops"
               for m in at.markdown)
    assert not [b for b in at.button if b.key == "auth_sign_out"]


def test_shared_mode_shows_only_the_sign_in_screen_before_sign_in():
    at = run({"auth": AUTH}, {"is_logged_in": False})
    assert not at.exception
    assert not page_shown(at) and not at.info  # no page, no local banner
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your organisation's account" in texts(at)


def test_one_sign_in_button_per_named_provider():
    sections = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"],
                "okta": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
                "entra-id": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}
    at = run({"auth": sections}, {"is_logged_in": False})
    assert sorted(b.label for b in at.button) == ["Sign in with Entra Id", "Sign in with Okta"]


def test_auth_without_a_provider_says_what_is_missing():
    at = run({"auth": {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "x" * 20}},
             {"is_logged_in": False})
    assert "names no identity provider" in texts(at) and not page_shown(at)


def test_signed_in_user_with_a_role_claim_sees_the_page_and_a_sign_out_button():
    user = {"is_logged_in": True, "sub": "u-1", "name": "Jane Doe", "email": "jane@x.org",
            "roles": ["analyst"]}
    at = run({"auth": AUTH}, user)
    assert not at.exception
    assert any(m.value == "PAGE for Jane Doe <jane@x.org> as analyst; actor=Jane Doe <jane@x.org>"
               for m in at.markdown)
    # the name is escaped: a claim can't inject Markdown
    assert [m.value for m in at.sidebar.markdown] == [
        "**Signed in as** Jane Doe \\<jane@x\\.org\\>  \nRoles: analyst"]
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert not at.info  # no local banner in shared mode


def test_signed_in_user_without_any_role_is_stopped_with_an_explanation():
    at = run({"auth": AUTH}, {"is_logged_in": True, "sub": "s", "name": "Stranger", "email": "s@else.org"})
    assert not page_shown(at)
    assert "has no Hypercare role" in texts(at)
    assert [b.label for b in at.sidebar.button] == ["Sign out"]  # can still leave


def test_roles_table_in_secrets_and_the_settings_role_map_apply(tmp_path, monkeypatch):
    from analytics.store import db
    from ui import connection

    monkeypatch.setenv("HYPERCARE_DB", str(tmp_path / "roles.duckdb"))
    connection.forget_store()
    try:
        with connection.writing() as w:
            audit.save_role_map(w, {"ana@x.org": ["approver"]}, local_operator("cli:test"))
        roles = {"claim": "groups", "claim_values": {"hc-analysts": ["analyst"]},
                 "emails": {"boss@x.org": ["admin"]}}
        at = run({"auth": AUTH, "roles": roles},
                 {"is_logged_in": True, "sub": "a", "name": "Ana", "email": "ana@x.org",
                  "groups": ["hc-analysts"], "roles": ["admin"]})  # "roles" is not the claim here
        assert any(m.value.startswith("PAGE for Ana <ana@x.org> as analyst, approver;") for m in at.markdown)
        at = run({"auth": AUTH, "roles": roles},
                 {"is_logged_in": True, "sub": "b", "name": "Boss", "email": "boss@x.org"})
        assert any(m.value.startswith("PAGE for Boss <boss@x.org> as admin;") for m in at.markdown)
        # a corrupt role map is ignored with a warning, not a crash and not a grant
        with connection.writing() as w:
            db.set_setting(w, auth.ROLE_MAP_SETTING, "{broken")
        at = run({"auth": AUTH, "roles": roles},
                 {"is_logged_in": True, "sub": "a", "name": "Ana", "email": "ana@x.org"})
        assert "role map in Settings is unreadable" in texts(at) and not page_shown(at)
    finally:
        connection.forget_store()


def test_a_malformed_roles_table_fails_closed():
    at = run({"auth": AUTH, "roles": {"default": ["root"]}},
             {"is_logged_in": True, "sub": "a", "email": "a@x.org", "roles": ["admin"]})
    assert "Sign-in is misconfigured" in texts(at) and not page_shown(at)


def _unrouted_page():
    import streamlit as st

    from ui import auth as ui_auth

    ui_auth.require_signed_in()
    st.write("PAGE for anyone")


@pytest.mark.parametrize("secrets, user, shown", [
    ({}, None, True),
    ({"auth": AUTH}, {"is_logged_in": False}, False),
    ({"auth": AUTH}, {"is_logged_in": True, "sub": "s", "email": "s@else.org"}, False),
    ({"auth": AUTH}, {"is_logged_in": True, "sub": "v", "email": "v@x.org", "roles": ["viewer"]}, True),
])
def test_a_page_run_without_the_router_is_gated_too(secrets, user, shown):
    at = AppTest.from_function(_unrouted_page, default_timeout=30)
    for key, value in secrets.items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    at.run()
    assert any(m.value == "PAGE for anyone" for m in at.markdown) is shown
    assert bool([b for b in at.button if b.label == "Sign in"]) is not shown


def test_current_identity_before_sign_in_may_do_nothing():
    def script():
        import streamlit as st

        from ui import auth as ui_auth

        me = ui_auth.current_identity()
        st.write(f"{me.label}|{me.role_text}|{me.mode}")

    at = AppTest.from_function(script, default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert at.markdown[0].value == "not signed in|no role|shared"


# --- server-side upload limits -------------------------------------------------------------------


def test_server_upload_limit_matches_the_core_default():
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == DEFAULT_MAX_UPLOAD_MB
    assert config["server"]["enableXsrfProtection"] is True


def test_secrets_are_ignored_and_the_example_documents_every_key():
    ignored = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".streamlit/secrets.toml" in ignored
    example = (REPO_ROOT / ".streamlit" / "secrets.toml.example").read_text(encoding="utf-8")
    # every key, commented out, so that copying the example never half-enables sign-in
    uncommented = [line for line in example.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert uncommented == []
    for key in ("[auth]", "redirect_uri", "cookie_secret", "client_id", "client_secret",
                "server_metadata_url", "[auth.", "[roles]", "claim", "claim_values", "emails", "default"):
        assert key in example, key
    # the commented [roles] example parses and is accepted by the core
    body = "\n".join(line.lstrip()[1:].removeprefix(" ") for line in example.splitlines()
                     if line.lstrip().startswith("#") and not line.lstrip().startswith("##"))
    parsed = tomllib.loads(body)
    assert auth.RolePolicy.from_config(parsed["roles"]).claim


# --- controls follow the roles ------------------------------------------------------------------

SAVE_BUTTONS = ["Save settings", "Save KPI targets", "Save as new version", "Save closure criteria"]


@pytest.mark.parametrize("roles, enabled, locks", [
    (["viewer"], [], ["change settings", "change KPI targets", "change SLA policies", "change closure rules",
                      "change who has which role"]),
    (["analyst", "approver"], [],
     ["change settings", "change KPI targets", "change SLA policies", "change closure rules",
      "change who has which role"]),
    (["admin"], SAVE_BUTTONS, []),
])
def test_settings_page_disables_what_the_roles_do_not_allow(tmp_path, monkeypatch, roles, enabled, locks):
    from analytics.store import db
    from ui import connection

    # One engagement's store (a missing one would be a first start: a catalog with no engagement yet).
    db.connect(tmp_path / "settings.duckdb", held=False).close()
    monkeypatch.setenv("HYPERCARE_DB", str(tmp_path / "settings.duckdb"))
    monkeypatch.setenv("HYPERCARE_NO_DEMO", "1")
    connection.forget_store()
    try:
        at = AppTest.from_file(str(REPO_ROOT / "pages" / "settings.py"), default_timeout=60)
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "sub": "p", "name": "Pat", "email": "pat@x.org", "roles": roles}
        at.run()
        assert not at.exception
        buttons = {b.label: b.disabled for b in at.button if b.label in SAVE_BUTTONS}
        # the policy editor is not drawn at all without the role; the others are disabled
        assert sorted(label for label, disabled in buttons.items() if not disabled) == sorted(enabled)
        assert ("Save as new version" in buttons) is ("admin" in roles)
        shown = [c.value for c in at.caption if "may not" in c.value]
        assert len(shown) == len(locks)
        for what, caption in zip(locks, shown):
            assert f"may not {what}" in caption.replace("\\", "")
    finally:
        connection.forget_store()


@pytest.mark.parametrize("roles", [["viewer"], ["admin"]])
def test_role_map_is_listed_for_everyone_and_edited_by_admins(tmp_path, monkeypatch, roles):
    from analytics.store import audit
    from ui import connection

    monkeypatch.setenv("HYPERCARE_DB", str(tmp_path / "roles.duckdb"))
    connection.forget_store()
    try:
        if roles == ["viewer"]:
            with connection.writing() as w:
                audit.save_role_map(w, {"ana@x.org": ["analyst"]}, local_operator("cli:setup"))

        def script():
            from ui import connection, role_editor

            role_editor.render(connection.get_connection())

        at = AppTest.from_function(script, default_timeout=30)
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "sub": "p", "name": "Pat", "email": "pat@x.org", "roles": roles}
        at.run()
        assert not at.exception
        if roles == ["viewer"]:
            assert not at.button and "may not change who has which role" in texts(at).replace("\\", "")
            assert at.dataframe[0].value.to_dict("records") == [
                {"email": "ana@x.org", "viewer": False, "analyst": True, "admin": False, "approver": False}]
        else:
            # nothing saved yet: saving the (empty) list stores it, recorded as the admin
            at.button(key="role_map_save").click().run()
            assert "Role map saved" in texts(at)
            trail = audit.trail(connection.get_connection(), action=audit.SETTING_CHANGE)
            assert trail[["actor", "object"]].values.tolist() == [["Pat <pat@x.org>", "setting:auth_role_map"]]
    finally:
        connection.forget_store()


@pytest.mark.parametrize("address,served", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("", False),
                                            ("192.168.1.20", False), ("myhost.example", False)])
def test_local_mode_serves_only_on_a_loopback_address(address, served):
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        at = run()
    finally:
        config.set_option("server.address", before)
    assert not at.exception
    assert page_shown(at) is served
    assert reachability.is_loopback(address) is served
    if not served:
        assert "local mode" in texts(at) and "127.0.0.1" in texts(at)


def test_shared_mode_may_listen_on_the_network():
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = run({"auth": AUTH}, {"is_logged_in": False})
    finally:
        config.set_option("server.address", before)
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.mark.parametrize("headers,vouched,served", [
    ({}, False, True),
    ({"X-Forwarded-For": "203.0.113.9"}, False, False),     # nginx, Caddy
    ({"x-real-ip": "203.0.113.9"}, False, False),
    ({"Forwarded": "for=203.0.113.9;proto=https"}, False, False),  # RFC 7239
    ({"X-Forwarded-For": "127.0.0.1"}, True, True),           # the operator vouches for a loopback proxy
])
def test_local_mode_refuses_requests_a_proxy_forwarded(monkeypatch, headers, vouched, served):
    """A dashboard on 127.0.0.1 behind a proxy on the same machine is on the network."""
    from ui import auth as ui_auth

    monkeypatch.setattr(ui_auth, "_request_headers", lambda: headers)
    if vouched:
        monkeypatch.setenv(reachability.LOCAL_BEHIND_PROXY_ENV, "1")
    else:
        monkeypatch.delenv(reachability.LOCAL_BEHIND_PROXY_ENV, raising=False)
    at = run()
    assert not at.exception
    assert page_shown(at) is served
    if not served:
        assert "reverse proxy" in texts(at) and reachability.LOCAL_BEHIND_PROXY_ENV in texts(at)


def test_shared_mode_behind_a_proxy_asks_for_sign_in(monkeypatch):
    from ui import auth as ui_auth

    monkeypatch.setattr(ui_auth, "_request_headers", lambda: {"X-Forwarded-For": "203.0.113.9"})
    at = run({"auth": AUTH}, {"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"]
