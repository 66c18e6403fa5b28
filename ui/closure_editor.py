"""Settings → Closure criteria: the five rules' parameters as a form, saved through the audit log."""

from __future__ import annotations

import duckdb
import streamlit as st

from analytics.governance import closure_rules as cr
from analytics.governance.signoff import ROLES
from analytics.kpi import registry
from analytics.store.auth import Permission
from analytics.store.schema import SEVERITIES, TICKET_TYPES
from ui import auth as ui_auth
from ui import cache, connection, widgets


def editor(con: duckdb.DuckDBPyConnection) -> None:
    st.subheader("Closure criteria")
    st.caption("The rules the Governance page's closure scorecard applies (defaults from the hypercare "
               "plan). A change is recorded in the audit trail with your name.")
    rules = cr.load_rules(con)
    kpi_names = {k.key: k.name for k in registry.KPIS}
    may_save = ui_auth.allowed(Permission.CHANGE_CLOSURE_RULES)
    with st.form("closure_rules_form"):
        st.markdown("**1. No open critical or high defects**")
        sev = st.multiselect("Blocking severities", SEVERITIES, default=rules.blocking_severities, key="cr_sev")
        types = st.multiselect("Blocking ticket types", TICKET_TYPES, default=rules.blocking_types, key="cr_types")
        st.markdown("**2. SLA compliance at or above target**")
        c1, c2, c3, c4 = st.columns(4)
        window = c1.number_input("Window (days)", 1, 366, rules.sla_window_days, key="cr_sla_window")
        use_policy = rules.sla_target_pct is None
        target = c2.number_input("Target % (0 = the SLA policy's)", 0.0, 100.0,
                                 0.0 if use_policy else float(rules.sla_target_pct), step=0.5, key="cr_sla_target")
        margin = c3.number_input("At-risk margin (points)", 0.0, 100.0, float(rules.sla_margin_pct), step=0.5,
                                 key="cr_sla_margin")
        sample = c4.number_input("Smallest sample", 1, 100_000, rules.sla_min_sample, key="cr_sla_sample")
        st.markdown("**3. KPI targets met** (targets themselves: KPI targets above)")
        kpis = st.multiselect("KPIs", list(kpi_names), default=rules.kpi_keys, format_func=kpi_names.get,
                              key="cr_kpis")
        k1, k2 = st.columns(2)
        kwin = k1.number_input("Window (days)", 1, 3660, rules.kpi_window_days, key="cr_kpi_window")
        ksample = k2.number_input("Smallest sample", 1, 100_000, rules.kpi_min_sample, key="cr_kpi_sample")
        st.markdown("**4. Enhancements prioritised and scheduled**")
        sched = st.multiselect("Ticket types that must be scheduled", TICKET_TYPES, default=rules.scheduled_types,
                               key="cr_sched")
        st.markdown("**5. Stakeholder sign-off recorded**")
        roles = st.multiselect("Required roles", ROLES, default=rules.required_roles, key="cr_roles")
        if st.form_submit_button("Save closure criteria", type="primary", disabled=not may_save):
            data = {"blocking_severities": sev, "blocking_types": types, "sla_window_days": int(window),
                    "sla_target_pct": float(target) or None, "sla_margin_pct": float(margin),
                    "sla_min_sample": int(sample), "kpi_keys": kpis, "kpi_window_days": int(kwin),
                    "kpi_min_sample": int(ksample), "scheduled_types": sched, "required_roles": roles}
            try:
                with connection.writing() as w:
                    changed = cr.save_rules(w, data, ui_auth.actor())
            except (ValueError, PermissionError) as exc:
                st.error(widgets.escape_markdown(exc), icon=":material/error:")
            else:
                cache.data_changed()
                st.success("Closure criteria saved." if changed else "Nothing changed.", icon=":material/check:")
    st.download_button("Download closure criteria (TOML)", data=cr.rules_to_toml(rules).encode(),
                       file_name="closure_rules.toml", mime="application/toml", key="cr_download",
                       icon=":material/download:", on_click="ignore")
