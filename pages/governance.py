"""Governance: closure scorecard, sign-off, post-incident reviews, defect triage, monthly report, audit."""

import streamlit as st

from ui import governance_pir, governance_report, governance_views, page

con, filters, n = page.filtered_page("Governance")
as_of = governance_views.as_of_picker(con)
governance_views.verdict(con, filters, as_of)

# Lazy tabs: only the open tab's content runs, so the scorecard is not re-evaluated while a
# reviewer reads the audit trail.
sections = {
    "Closure scorecard": lambda: governance_views.scorecard(con, filters, as_of),
    "Sign-off": lambda: governance_views.signoffs(con),
    "Post-incident reviews": lambda: governance_pir.reviews(con, filters, as_of),
    "Defect triage": lambda: governance_pir.triage(con, filters, as_of),
    "Monthly report": lambda: governance_report.monthly_report(con, filters),
    "Audit trail": lambda: governance_views.audit_trail(con),
}
for tab, draw in zip(st.tabs(list(sections), key="gov_tab", on_change="rerun"), sections.values()):
    if tab.open:
        with tab:
            draw()
