"""Governance page parts: as-of picker, closure scorecard, sign-off forms, audit trail.

The page itself only arranges these; every figure comes from the analytics core
(closure, signoff, audit), and every write goes through it with the session's actor.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd
import streamlit as st

from analytics.governance import closure, portfolio, signoff
from analytics.governance.closure_rules import AT_RISK, FAIL, NOT_MEASURABLE, PASS
from analytics.kpi import facts
from analytics.store import audit, engagements
from analytics.store.auth import Permission
from analytics.store.filters import Filters
from ui import auth as ui_auth
from ui import cache, connection, store_view, widgets

# Status words with an icon each, so a status never rests on colour alone.
STATUS_ICONS = {
    PASS: ":material/check_circle:",
    FAIL: ":material/cancel:",
    AT_RISK: ":material/warning:",
    NOT_MEASURABLE: ":material/help:",
}
_STATUS_SYMBOL = {PASS: "✓", FAIL: "✗", AT_RISK: "⚠", NOT_MEASURABLE: "?"}


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _default_as_of(_con: duckdb.DuckDBPyConnection, con_key: int, now: datetime) -> tuple[datetime, str]:
    """portfolio.governance_as_of and the text of the data's dates and hypercare window beside it."""
    first, last = facts.data_span(_con, Filters())
    d = engagements.details(None, _con)
    data = f"Data from {first:%Y-%m-%d} to {last:%Y-%m-%d}" if first and last else "No data yet"
    window = (f"hypercare window {d.go_live:%Y-%m-%d} – {d.window_end:%Y-%m-%d}" if d.go_live
              else "no go-live date set (Settings)")
    return portfolio.governance_as_of(_con, now), f"{data}; {window}."


def as_of_text(as_of: datetime) -> str:
    """The as-of as the page writes it: midnight is the end of the day before, as the picker shows
    it ("the end of 2026-11-15 (2026-11-16 00:00 UTC)"); any other instant "2026-11-21 14:03 UTC"."""
    if as_of.time() == time.min:
        return f"the end of {as_of - timedelta(days=1):%Y-%m-%d} ({as_of:%Y-%m-%d %H:%M} UTC)"
    return f"{as_of:%Y-%m-%d %H:%M} UTC"


def as_of_day(as_of: datetime) -> date:
    """The day the picker shows for `as_of`: the one it ends (a window ends at midnight)."""
    return (as_of - timedelta(microseconds=1)).date() if as_of.time() == time.min else as_of.date()


def as_of_picker(con: duckdb.DuckDBPyConnection) -> datetime:
    """The instant the governance figures are evaluated at: by default the end of the hypercare
    window or the last event, whichever is earlier; a picked day means the end of that day (UTC)."""
    now = cache.as_of_now()
    default, span = _default_as_of(con, store_view.con_key(con), now)
    default_day = as_of_day(default)
    picker, beside = st.columns([1, 2], vertical_alignment="bottom")
    day = picker.date_input("Evaluate as of", value=min(default_day, now.date()), max_value=now.date(),
                            format="YYYY-MM-DD", key="gov_as_of",
                            help="Rules and sign-offs are judged as they stood at the end of this day (UTC); "
                            "today means now. The default is the end of the hypercare window or the last "
                            "event, whichever is earlier.")
    beside.caption(widgets.escape_markdown(span))
    if day is None or day == default_day:
        return default
    if day >= now.date():
        return now
    return datetime.combine(day + timedelta(days=1), time.min)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _scorecard(_con: duckdb.DuckDBPyConnection, con_key: int, as_of: datetime, filters: Filters) -> pd.DataFrame:
    return closure.evaluate(_con, as_of, filters)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _evidence(_con: duckdb.DuckDBPyConnection, con_key: int, key: str, as_of: datetime,
              filters: Filters) -> pd.DataFrame:
    return closure.evidence(_con, key, as_of, filters)


_VERDICT_ICON = {closure.READY: ":material/check_circle:", closure.NOT_YET: ":material/cancel:",
                 closure.AT_RISK_VERDICT: ":material/warning:"}


def verdict(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> None:
    """"Ready to exit hypercare?" and why (closure.verdict), above the tabs."""
    word, why = closure.verdict(_scorecard(con, store_view.con_key(con), as_of, filters))
    st.subheader(f"Ready to exit hypercare? {word.capitalize()}")
    st.markdown(f"{_VERDICT_ICON[word]} **{word.capitalize()}** — {widgets.escape_markdown(why)} "
                f"(as of {widgets.escape_markdown(as_of_text(as_of))}; the Closure scorecard tab has each "
                "criterion's detail)")


def status_text(status: str) -> str:
    return f"{_STATUS_SYMBOL.get(status, '')} {status}".strip()


def scorecard(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> None:
    st.caption(widgets.escape_markdown(
        f"Hypercare closure criteria as of {as_of_text(as_of)}. Rules are edited on the Settings page."))
    with st.spinner("Evaluating closure criteria…"):
        card = _scorecard(con, store_view.con_key(con), as_of, filters)
    counts = card["status"].value_counts()
    cols = st.columns(4)
    for col, status in zip(cols, STATUS_ICONS):
        col.metric(status_text(status).capitalize(), int(counts.get(status, 0)))
    # One line per criterion here; its whole reason, definition and evidence in its expander below.
    view = card.assign(status=card["status"].map(status_text), detail=card["detail"].map(closure.first_sentence))[
        ["criterion", "status", "detail", "evidence_count"]]
    widgets.table(view, alt="Closure criteria with status, reason and evidence count", key="gov_scorecard",
                  wrap=True, column_config={"detail": st.column_config.TextColumn("Reason (in full below)"),
                                            "evidence_count": st.column_config.NumberColumn("Evidence rows")})
    widgets.download_csv(card, f"closure_scorecard_{as_of_day(as_of):%Y-%m-%d}.csv", key="gov_scorecard_csv",
                         label="Download scorecard (CSV)")
    for row in card.to_dict("records"):
        label = f"{row['criterion']} — {row['status']}"
        with st.expander(widgets.escape_markdown(label), icon=STATUS_ICONS.get(row["status"])):
            st.markdown(widgets.escape_markdown(row["detail"]))
            st.caption(widgets.escape_markdown(f"Definition: {row['definition']}"))
            if st.toggle("Show evidence", key=f"gov_ev_toggle_{row['key']}"):
                ev = _evidence(con, store_view.con_key(con), row["key"], as_of, filters)
                widgets.table(ev, alt=f"Evidence for {row['criterion']}", key=f"gov_ev_{row['key']}")
                widgets.download_csv(ev, f"closure_evidence_{row['key']}.csv", key=f"gov_ev_csv_{row['key']}",
                                     label="Download evidence (CSV)")


def signoffs(con: duckdb.DuckDBPyConnection) -> None:
    st.caption("Stakeholder sign-off on the post-implementation report (seed roles). Every sign-off and "
               "revocation is kept in the audit trail; nothing is overwritten.")
    current = signoff.current(con)
    view = current.assign(state=current["state"].map(
        {"signed": "✓ signed", "revoked": "✗ revoked", "not signed": "… not signed"}).fillna(current["state"]))
    widgets.table(view, alt="Sign-off state per role", key="gov_signoffs",
                  column_config={"signed_on": st.column_config.DateColumn("Signed on"),
                                 "recorded_at": st.column_config.DatetimeColumn("Recorded at (UTC)")})
    may_sign = ui_auth.allowed(Permission.SIGN_OFF)  # the core refuses anyway; this says why up front
    record_col, revoke_col = st.columns(2)
    with record_col, st.form("gov_signoff_form"):
        st.markdown("**Record a sign-off**")
        role = st.selectbox("Role", signoff.ROLES, key="gov_so_role")
        name = st.text_input("Name", key="gov_so_name", max_chars=200)
        day = st.date_input("Date", value=date.today(), max_value=date.today(), format="YYYY-MM-DD",
                            key="gov_so_date")
        comment = st.text_area("Comment", key="gov_so_comment", max_chars=2000)
        if st.form_submit_button("Record sign-off", type="primary", disabled=not may_sign):
            _write(lambda w: signoff.record(w, role, name, day, comment, ui_auth.actor()),
                   f"Sign-off recorded for {role}.")
    with revoke_col, st.form("gov_revoke_form"):
        st.markdown("**Revoke a sign-off**")
        role = st.selectbox("Role", signoff.ROLES, key="gov_rv_role")
        reason = st.text_area("Reason (required)", key="gov_rv_reason", max_chars=2000)
        if st.form_submit_button("Revoke sign-off", disabled=not may_sign):
            _write(lambda w: signoff.revoke(w, role, reason, ui_auth.actor()), f"Sign-off of {role} revoked.")


def _write(action, done: str) -> None:
    """Run a core write (`action` takes the writing connection); show its refusal as a message,
    and refresh every cached figure on success."""
    try:
        with connection.writing() as w:
            action(w)
    except (ValueError, PermissionError) as exc:
        st.error(widgets.escape_markdown(exc), icon=":material/error:")
        return
    cache.data_changed()
    st.toast(done, icon=":material/check:")
    st.rerun()


def audit_trail(con: duckdb.DuckDBPyConnection) -> None:
    st.caption("Append-only record of uploads, deletions, policy and settings changes and sign-offs. "
               "Each entry carries the hash of the one before it, so an edited or removed entry is detected.")
    problems = audit.verify(con)
    if problems:
        st.error(widgets.escape_markdown("Audit chain broken: " + "; ".join(problems[:5])), icon=":material/gpp_bad:")
    else:
        st.success("Audit chain verified: no entry was changed or removed.", icon=":material/verified:")
    actions = ["(all)", *sorted({a for a in audit.trail(con)["action"].dropna()})]
    picked = st.selectbox("Action", actions, key="gov_audit_action")
    trail = audit.trail(con, limit=5000, action=None if picked == "(all)" else picked)
    widgets.table(trail, alt="Audit trail, newest first", key="gov_audit",
                  column_config={"recorded_at": st.column_config.DatetimeColumn("Recorded at (UTC)")})
    widgets.download_csv(trail, "audit_trail.csv", key="gov_audit_csv", label="Download audit trail (CSV)")
