"""Settings: who has which role (the e-mail → roles map admins keep in the app; docs/auth.md)."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd
import streamlit as st

from analytics.store import audit, auth, roles
from analytics.store.auth import ROLES, Permission
from ui import auth as ui_auth
from ui import connection, engagement_state, widgets


def render(con: duckdb.DuckDBPyConnection) -> None:
    """The role map of the installation's store `con` (the catalog), and its editor for admins."""
    st.header("Who has which role")
    st.caption("With sign-in configured, a person's roles come from the identity provider's claim "
               "and from this list of e-mail addresses (both count). Viewer: read and export. "
               "Analyst: also upload, mappings, delete own uploads. Admin: also policies, calendars, "
               "targets, closure rules, settings, this list, delete any upload. Approver: sign-off. "
               + ("In local mode (no sign-in) the one local user holds every role and this list "
                  "waits for sign-in to be enabled." if ui_auth.mode() == "local" else ""))

    def save(rows: dict[str, list[str]]) -> None:
        with connection.writing_installation() as w:
            audit.save_role_map(w, rows, ui_auth.actor())

    _list_editor(lambda: auth.role_map(con), save, key="role_map", button="Save role map",
                 what="The saved role map", alt="E-mail addresses and their Hypercare roles",
                 saved="Role map saved; it applies at each person's next click.")


def render_engagement(con: duckdb.DuckDBPyConnection) -> None:
    """The current engagement's own list (its store `con`), which overrides the installation's
    roles inside this engagement for the people it names."""
    e = engagement_state.current()
    if e is None or not engagement_state.is_catalog():
        return
    st.subheader(f"Roles in this engagement: {widgets.escape_markdown(e.name)}")
    st.caption("For the people listed here, these roles replace their installation roles inside this "
               "engagement only (an analyst of one go-live can be a viewer of another). An installation "
               "admin stays admin everywhere. People not listed keep their installation roles; to sign in "
               "at all a person needs an installation role.")

    def save(rows: dict[str, list[str]]) -> None:
        with connection.writing() as w:
            roles.save(w, rows, ui_auth.actor())

    _list_editor(lambda: roles.read(con), save, key="eng_role_map",
                 button="Save this engagement's roles", what="This engagement's role list",
                 alt="E-mail addresses and their roles in this engagement",
                 saved="Saved; it applies at each person's next click.")


def _list_editor(read: Callable[[], dict[str, frozenset[str]]], save: Callable[[dict[str, list[str]]], None], *,
                 key: str, button: str, what: str, alt: str, saved: str) -> None:
    """An e-mail → roles list: a table for everyone, an editor and its save button for admins."""
    try:
        current = read()
    except ValueError as exc:
        st.error(widgets.escape_markdown(f"{what} is unreadable and is ignored: {exc}"), icon=":material/error:")
        current = {}
    frame = pd.DataFrame(auth.role_map_rows(current), columns=["email", *ROLES])
    if not ui_auth.allowed(Permission.MANAGE_ROLES):
        widgets.table(frame, alt=alt, key=f"{key}_table")
        return
    edited = st.data_editor(
        frame, key=f"{key}_editor", num_rows="dynamic", hide_index=True,
        column_config={"email": st.column_config.TextColumn("E-mail", required=True),
                       **{r: st.column_config.CheckboxColumn(r.capitalize(), default=False) for r in ROLES}})
    if st.button(button, key=f"{key}_save", icon=":material/save:"):
        try:
            save(auth.role_map_from_rows(edited.to_dict("records")))
        except ValueError as exc:
            st.error(widgets.escape_markdown(f"Not saved: {exc}"), icon=":material/error:")
        else:
            st.success(saved, icon=":material/check_circle:")
