"""The SLA policy editor on the Settings page: versions, a form for targets and the business
calendar, TOML import/export. Saving always appends a new version (never overwrites)."""

from __future__ import annotations

from datetime import date

import duckdb
import holidays
import pandas as pd
import streamlit as st

from analytics.sla import policy as sp
from analytics.sla.calendar import ALWAYS
from analytics.sla.policy_form import ANY_TYPE, KIND_LABELS, policy_from_form, targets_frame
from analytics.store import units
from analytics.store.auth import Permission
from analytics.store.schema import SEVERITIES, TICKET_TYPES
from ui import auth as ui_auth
from ui import cache, connection, widgets

# A policy's default start: the earliest version applies to every day before the next one anyway
# (sla.policy.policy_in_force), so this date means "from the start", not a day in 1970.
NO_START = sp.Policy.model_fields["effective_from"].default
FROM_THE_START = "the start (no start date)"
# The targets editor: headers as words like every other table; an amount left empty (same business
# day, next release) shows "—", not "None".
TARGET_COLUMNS = {
    "severity": st.column_config.SelectboxColumn("Severity", options=list(SEVERITIES), required=True),
    "ticket type": st.column_config.SelectboxColumn("Ticket type", options=[ANY_TYPE, *TICKET_TYPES], required=True),
    "clock": st.column_config.SelectboxColumn("Clock", options=["response", "resolution"], required=True),
    "calendar": st.column_config.SelectboxColumn("Calendar", options=[ALWAYS, sp.BUSINESS], required=True),
    "kind": st.column_config.SelectboxColumn("Kind", options=list(KIND_LABELS.values()), required=True),
    "amount": st.column_config.NumberColumn(
        "Amount", min_value=0, help="Minutes or business days, as the kind says; none for same business day "
        "and next release."),
}


def versions_shown(versions: pd.DataFrame) -> pd.DataFrame:
    """The saved versions as the table shows them: the effective day as a date, the default start
    as words."""
    days = pd.to_datetime(versions["effective_from"]).dt.date
    return versions.assign(effective_from=[FROM_THE_START if d == NO_START else f"{d:%Y-%m-%d}" for d in days])


def render(con: duckdb.DuckDBPyConnection) -> None:
    st.header("SLA policy")
    st.caption("Targets per severity (and per ticket type for defect triage) on a calendar. Saving creates a "
               "new version with an effective date: a ticket is judged by the version in force when it opened, "
               "so editing a goal never rewrites history.")
    pols = sp.policies(con)
    versions = sp.policy_versions(con)
    if versions.empty:
        st.caption("No version saved yet: the seed defaults apply.")
    else:
        widgets.table(versions_shown(versions), alt="Saved SLA policy versions", key="policy_versions")
    latest = pols[-1]
    names = [p.version for p in pols]
    shown = st.selectbox("Version", names, index=len(names) - 1, key="policy_shown")
    chosen = pols[names.index(shown)]
    st.download_button("Export this version as TOML", data=sp.policy_to_toml(chosen).encode(),
                       file_name=f"sla-policy-{chosen.version}.toml", mime="application/toml",
                       key="policy_download", icon=":material/download:", on_click="ignore")
    if not ui_auth.allowed(Permission.CHANGE_POLICIES):  # viewers see and export, no editor
        return

    with st.form("policy_form"):
        st.subheader("New version")
        c1, c2, c3 = st.columns(3)
        version = c1.text_input("Version name", value=f"{latest.version}-edit", key="policy_version")
        effective = c2.date_input("Effective from", value=date.today(), format="YYYY-MM-DD", key="policy_effective")
        compliance = c3.number_input("Compliance target %", 0.0, 100.0, float(latest.compliance_target_pct),
                                     key="policy_compliance")
        cal = next((c for c in latest.calendars if c.name == sp.BUSINESS), sp.business_calendar())
        c4, c5, c6 = st.columns(3)
        zones = cache.time_zones()
        tz = c4.selectbox("Business calendar time zone", zones, index=zones.index(cal.timezone), key="policy_tz")
        countries = ["", *sorted(holidays.list_supported_countries())]
        country = c5.selectbox("Public holidays of", countries, index=countries.index(cal.country or ""),
                               format_func=lambda c: c or "(none)", key="policy_country",
                               help="(none): no public holidays.")
        subdivision = c6.text_input("Subdivision (optional)", value=cal.subdivision or "", key="policy_subdiv")
        hours = st.text_input("Working hours, Monday–Friday", key="policy_hours",
                              value=", ".join(f"{a}-{b}" for a, b in cal.hours.get("mon", [])))
        pauses = st.text_area("Statuses that pause the clock (one per line, * = any text)",
                              value="\n".join(latest.pause_statuses), key="policy_pauses")
        targets = st.data_editor(targets_frame(latest), key="policy_targets", num_rows="dynamic", hide_index=True,
                                 column_config=TARGET_COLUMNS, placeholder=units.NONE_TEXT)
        if st.form_submit_button("Save as new version", type="primary"):
            try:
                with connection.writing() as w:
                    saved = sp.save_policy(w, policy_from_form(latest, version, effective, targets, tz, country,
                                                                 subdivision, hours, pauses, compliance), who=ui_auth.actor())
            except sp.PolicyError as exc:
                st.error(widgets.escape_markdown(exc), icon=":material/error:")
            else:
                cache.data_changed()
                st.success(widgets.escape_markdown(f"Saved version '{saved.version}', effective "
                                                   f"{saved.effective_from:%Y-%m-%d}."), icon=":material/check_circle:")

    uploaded = st.file_uploader("Import a policy TOML as a new version", type=["toml"], key="policy_upload")
    if uploaded is not None and st.button("Import", key="policy_import"):
        try:
            with connection.writing() as w:
                saved = sp.save_policy(w, sp.policy_from_toml(uploaded.getvalue().decode("utf-8", "replace"),
                                                                origin=uploaded.name), who=ui_auth.actor())
        except sp.PolicyError as exc:
            st.error(widgets.escape_markdown(exc), icon=":material/error:")
        else:
            cache.data_changed()
            st.success(widgets.escape_markdown(f"Imported version '{saved.version}'."), icon=":material/check_circle:")
