"""SLA compliance: per severity against target, trend, open breaches, at risk, drill-down."""

import functools

import streamlit as st

from analytics.charts import sla
from analytics.sla import agreement, breakdown, engine
from analytics.sla import compliance as comp
from analytics.sla import policy as sla_policy
from ui import cache, page, sla_state, widgets

con, filters, n = page.filtered_page("SLA compliance")

as_of = cache.as_of_now()
period = sla_state.period(con, filters, as_of)
with st.spinner("Evaluating SLA clocks…"):
    frame = sla_state.evaluation(con, filters, as_of)
    policy = sla_state.policy(con, as_of.date())
    table = comp.compliance_table(sla_state.counts(con, filters, as_of, split="severity"),
                                  policy.compliance_target_pct, sla_policy.untargeted(policy))
versions = sla_state.versions(con, filters, as_of)
st.caption(widgets.escape_markdown(
    f"Clocks that stopped {period.label()} (UTC); open and breached at {period.observed_end:%Y-%m-%d %H:%M} UTC; "
    f"as of {as_of:%Y-%m-%d %H:%M} UTC · policy versions used: {', '.join(versions) or 'none'} · "
    "edit policies on the Settings page."))

widgets.chart(sla.compliance_chart(table), sla.describe_compliance(table), table,
              key="sla_chart", definition=comp.DEFINITIONS["compliance"])
widgets.table(comp.compliance_view(table), alt="Compliance per severity and clock", key="sla_table")

grain = st.radio("Trend by", ["week", "month"], horizontal=True, key="sla_grain")
trend = comp.compliance_trend(sla_state.counts(con, filters, as_of, grain=grain))
widgets.chart(sla.trend_chart(trend, policy.compliance_target_pct, grain),
              sla.describe_trend(trend, grain), trend,
              key="sla_trend")

lists = {
    "Open and breached": (comp.open_breached(frame, period.observed_end), "open_breached"),
    "At risk": (comp.at_risk(frame, as_of), "at_risk"),
    "Breaches": (comp.breaches(frame, period.start, period.end), "breaches"),
}
for (label, (rows, key)), tab in zip(lists.items(), st.tabs([f"{k} ({len(v[0]):,})" for k, v in lists.items()])):
    with tab:
        st.caption(widgets.escape_markdown(comp.DEFINITIONS[key]))
        widgets.table(rows, alt=f"{label} tickets", key=f"sla_{key}")
        widgets.download_csv(rows, f"sla_{key}.csv", key=f"sla_{key}_csv", label=f"Download {label.lower()} (CSV)")

agreed = sla_state.agreement(con, filters, as_of, frame)
if agreed is not None:
    summary, disagreeing = agreed
    st.subheader("Agreement with the source's own SLA verdict")
    st.caption(widgets.escape_markdown(agreement.DEFINITION))
    widgets.table(agreement.summary_view(summary), alt="Agreement with the source's SLA verdict per severity",
                  key="sla_agreement")
    widgets.table(agreement.disagreement_view(disagreeing), key="sla_disagreements",
                  alt="Tickets whose source verdict and Hypercare verdict differ, or that Hypercare cannot judge")
    # A partial, not a lambda: a lambda would keep this page's globals (the store's copy) alive.
    widgets.download_csv(functools.partial(engine.iso_frame, disagreeing), "sla_agreement.csv",
                         key="sla_agreement_csv", label="Download disagreements (CSV)")

missing = breakdown.not_measured(frame)
with st.expander(f"Not measured ({int(missing['tickets'].sum()):,} clocks) and what paused the clocks"):
    st.caption("Clocks the compliance figures leave out, by reason (the same labels as the KPIs' exclusions).")
    widgets.table(missing, alt="Clocks not measured, by clock and reason", key="sla_not_measured")
    if st.toggle("Show the business time each waiting status paused", key="sla_paused_toggle"):
        paused = sla_state.paused_by(con, filters, as_of)
        st.caption(widgets.escape_markdown(breakdown.describe_paused_by(paused)))
        widgets.table(paused, alt="Business hours paused per clock and waiting status", key="sla_paused_by")

st.subheader("Ticket timeline")
candidates = list(dict.fromkeys([*lists["Open and breached"][0].get("ticket_id", []),
                                 *lists["Breaches"][0].get("ticket_id", [])]))[:500]
picked = st.selectbox("Ticket", candidates, index=None, key="sla_ticket",
                      placeholder="Choose a breached ticket", accept_new_options=True,
                      help="Breached tickets are listed; type any ticket id to see its clocks.")
if picked:
    try:
        tl = sla_state.timeline(con, str(picked).strip(), as_of)
    except ValueError as exc:
        st.error(widgets.escape_markdown(exc), icon=":material/error:")
    else:
        clocks = comp.clock_summary(tl)
        widgets.chart(sla.timeline_chart(tl), sla.describe_timeline(tl), clocks,
                      key="sla_timeline", definition="Status history, paused time and the periods each clock "
                      "counted (working time on its calendar, pauses removed); × marks the breach.")
        widgets.table(comp.history_table(tl), alt="Status history of the ticket", key="sla_history")
