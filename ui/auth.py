"""Streamlit edge of sign-in: which mode, the sign-in gate, who is signed in.

Shared mode when .streamlit/secrets.toml has an [auth] section (Streamlit's own OpenID Connect
sign-in, `st.login`), else local mode. The roles themselves are decided in analytics/store/auth.py;
this module only reads `st.user` and the secrets and draws the gate, banner and sign-out.
docs/auth.md explains both modes and the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from analytics.store import auth, reachability, roles
from analytics.store.auth import Identity
from ui import connection, engagement_state, widgets

LOCAL_BANNER = ("Local mode: single local user, everything allowed — see docs/auth.md to "
                "enable sign-in")
# Keys of a provider section in [auth] (Streamlit passes them to Authlib).
_PROVIDER_KEYS = {"client_id", "server_metadata_url"}


def _secrets_table(name: str) -> Mapping[str, Any] | None:
    try:
        value = st.secrets.get(name)
    except (StreamlitSecretNotFoundError, FileNotFoundError):  # no secrets file at all
        return None
    return value if isinstance(value, Mapping) else None


def mode() -> str:
    """"shared" when secrets configure sign-in ([auth]), else "local"."""
    return "shared" if _secrets_table("auth") else "local"


def providers() -> list[tuple[str | None, str]]:
    """(provider for st.login, button label) for each configured identity provider.

    The [auth] section itself is the unnamed provider when it holds client_id /
    server_metadata_url; each [auth.NAME] sub-table with those keys is a named one.
    """
    section = _secrets_table("auth") or {}
    found: list[tuple[str | None, str]] = []
    if _PROVIDER_KEYS & set(section):
        found.append((None, "Sign in"))
    for name, value in section.items():
        if isinstance(value, Mapping) and _PROVIDER_KEYS & set(value):
            found.append((str(name), f"Sign in with {str(name).replace('-', ' ').title()}"))
    return found


def role_policy() -> auth.RolePolicy:
    """The [roles] table of the secrets (raises ValueError when it is malformed)."""
    return auth.RolePolicy.from_config(_secrets_table("roles"))


def _role_map() -> tuple[dict[str, frozenset[str]], str | None]:
    """The admins' e-mail → roles setting, and a warning when it cannot be read."""
    if engagement_state.kind() not in ("catalog", "engagement"):  # not made yet, or not upgraded
        return {}, None
    try:
        return auth.role_map(connection.installation_connection()), None
    except ValueError as exc:
        return {}, f"The role map in Settings is unreadable and was ignored: {exc}"


def _engagement_map() -> dict[str, frozenset[str]]:
    """The current engagement's own e-mail → roles list (analytics/store/roles.py)."""
    if engagement_state.kind() not in ("catalog", "engagement") or engagement_state.current() is None:
        return {}
    try:
        return roles.read(connection.get_connection())
    except ValueError:  # an unreadable list grants nothing; Settings says so
        return {}


def _claims() -> dict[str, Any]:
    return {k: v for k, v in st.user.to_dict().items() if k != "tokens"}


def _logged_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def current_identity() -> Identity:
    """Who acts in this session: the local user, or the signed-in user with their roles.

    In shared mode before sign-in this is a nameless identity without roles, so every
    `auth.require` refuses; the gate never lets a page run in that state anyway.
    """
    if mode() == "local":
        return auth.local_identity()
    if not _logged_in():
        return Identity(name="not signed in", mode="shared")
    claims = _claims()
    me = auth.identity_from_claims(claims, role_policy(), _role_map()[0])
    return roles.in_engagement(me, _engagement_map(), claims.get("email_verified") not in (False, "false"))


def actor() -> Identity:
    """Who acts in this session, to pass to every write of the core (which checks the
    permission and records `.label`): the signed-in person in shared mode, else the local
    user (HYPERCARE_OPERATOR, else "local:<login>"); the core refuses a plain name."""
    return current_identity()


def actor_label() -> str:
    """What audit records carry for this session (`Identity.label`)."""
    return current_identity().label


def can(permission: auth.Permission | str) -> bool:
    """Whether this session's person holds `permission` (to hide or disable a control)."""
    return current_identity().can(permission)


def allowed(permission: auth.Permission | str) -> bool:
    """`can`, and when not, a caption saying who lacks which role. The core refuses anyway
    (analytics.store.auth.require): hiding a control is a courtesy, not the guard."""
    me = current_identity()
    if me.can(permission):
        return True
    st.caption(f":material/lock: {_plain(auth.PermissionDenied(me, auth.Permission(permission)))}")
    return False


NOT_ON_NETWORK = (
    "Hypercare is running in local mode (nobody signs in, everyone may do everything) on a "
    "network address, so it serves nothing. Either listen on 127.0.0.1 only (start it with "
    "./run.sh, or pass --server.address 127.0.0.1), or configure sign-in ([auth] in "
    ".streamlit/secrets.toml, docs/auth.md) to share it.")


BEHIND_PROXY = (
    "Hypercare is running in local mode (nobody signs in, everyone may do everything), and this "
    "request came through a reverse proxy, so anyone who can reach the proxy would have every "
    "role. Configure sign-in ([auth] in .streamlit/secrets.toml, docs/auth.md) to share it. Only "
    "if the proxy itself listens on 127.0.0.1, start the dashboard with "
    f"{reachability.LOCAL_BEHIND_PROXY_ENV}=1.")


def _request_headers() -> Mapping[str, str]:
    """This session's request headers (empty outside a served session, e.g. in AppTest)."""
    try:
        return dict(st.context.headers)
    except RuntimeError:  # "Runtime hasn't been created": a script run with no server (AppTest)
        return {}


def gate() -> Identity:
    """Top of app.py: no page before sign-in; the banner or who is signed in, and sign-out.

    Stops the script run (st.stop) on the sign-in screen, when the sign-in configuration is
    broken, and for a signed-in user who holds no role.
    """
    if mode() == "local":
        if not reachability.is_loopback(st.get_option("server.address")):
            # Local mode gives everyone every role; on a network address that would be anyone.
            st.error(NOT_ON_NETWORK, icon=":material/block:")
            st.stop()
        if reachability.forwarded_by_proxy(_request_headers()) and not reachability.local_behind_proxy_allowed():
            # Loopback is no guard when a proxy on this machine forwards the network to it.
            st.error(BEHIND_PROXY, icon=":material/block:")
            st.stop()
        st.info(LOCAL_BANNER, icon=":material/person:")
        me = auth.local_identity()
        with st.sidebar:
            st.caption(f"Local user: {_plain(me.label)} (every role)")
        return me
    try:
        policy = role_policy()
    except ValueError as exc:  # fail closed: a broken role table must not open the app
        st.error(f"Sign-in is misconfigured ([roles] in .streamlit/secrets.toml): {exc}",
                 icon=":material/error:")
        st.stop()
    if not _logged_in():
        _only(_sign_in_screen)
    mapping, warning = _role_map()
    me = auth.identity_from_claims(_claims(), policy, mapping)
    with st.sidebar:
        st.markdown(f"**Signed in as** {_plain(me.label)}  \nRoles: {me.role_text}")
        st.button("Sign out", key="auth_sign_out", icon=":material/logout:", on_click=st.logout)
        if warning:
            st.warning(warning, icon=":material/warning:")
    if not me.roles:
        _only(lambda: _no_role_screen(me))
    return me


def require_signed_in() -> None:
    """For a page run without the router (first run of a process on a page URL): draw
    nothing of the page unless someone with a role is signed in."""
    if mode() == "local":
        return
    if not _logged_in() or not current_identity().roles:
        _only(_sign_in_screen)


def _only(screen) -> None:
    """Show `screen` as the app's one page and end the run.

    Through st.navigation, so that Streamlit lists no page of pages/ in the sidebar either
    (its automatic pages/ navigation would otherwise name every page before sign-in).
    """
    st.navigation([st.Page(screen, title="Hypercare", url_path="sign-in", default=True)],
                  position="hidden").run()
    st.stop()


def _no_role_screen(me: Identity) -> None:
    st.title("Hypercare")
    st.warning(f"You are signed in as {_plain(me.label)}, but your account has no Hypercare "
               "role yet. Ask a Hypercare admin to add your e-mail address to the role map "
               "(Settings), or your identity provider's administrator to assign you a role.",
               icon=":material/lock:")


def _sign_in_screen() -> None:
    st.title("Hypercare")
    st.write("Sign in with your organisation's account to open the dashboard.")
    options = providers()
    if not options:
        st.error("Sign-in is configured ([auth] in .streamlit/secrets.toml) but names no identity "
                 "provider: add client_id, client_secret and server_metadata_url (see docs/auth.md).",
                 icon=":material/error:")
    for provider, label in options:
        st.button(label, key=f"auth_sign_in_{provider or 'default'}", icon=":material/login:",
                  type="primary", on_click=st.login, args=(provider,) if provider else ())


def _plain(text: str) -> str:
    """A name from the identity provider, shown as text (no Markdown from a claim)."""
    return widgets.escape_markdown(text)
