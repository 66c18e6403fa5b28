"""Portfolio: the engagements side by side on the same KPIs and closure status, each linking to its Overview."""

import streamlit as st

from analytics.store.auth import Permission
from ui import auth as ui_auth
from ui import engagement_state, page, portfolio_state, widgets

page.start_page(needs_engagement=False)
st.title("Portfolio")
st.caption("Every engagement on the same definitions (below), each computed on its own data only. "
           "The sidebar's filters do not apply on this page.")
told = st.session_state.pop("_portfolio_outcome", None)
if told:
    st.success(widgets.escape_markdown(told), icon=":material/check_circle:")

found = engagement_state.listed()
if not found:
    engagement_state.no_engagement_notice()
    st.stop()

with st.spinner("Computing each engagement's figures…"):
    rows = portfolio_state.rows(found)
widgets.table(portfolio_state.shown(rows), alt="Engagements side by side: go-live, tickets, open SEV-1/2, "
              "SLA compliance, MTTR, closure criteria and sign-offs", key="portfolio_table",
              column_config=portfolio_state.COLUMNS)

st.subheader("Open an engagement")
for e in found:
    st.page_link("pages/overview.py", label=widgets.escape_markdown(f"{e.name}: Overview"),
                 icon=":material/dashboard:", query_params={engagement_state.QUERY_KEY: e.slug})

st.subheader("Definitions")
st.markdown("\n".join(f"- **{widgets.escape_markdown(label)}**: {widgets.escape_markdown(text)}"
                      for label, text in portfolio_state.definitions()))

demo = portfolio_state.demo_of(found)
if demo is not None:
    with st.expander("Delete the demo engagement"):
        st.caption("Removes the Demo engagement and its generated data at once; no other engagement is touched.")
        sure = st.checkbox("Yes, delete the Demo engagement and its demo data", key="portfolio_delete_demo_sure")
        if st.button("Delete the demo engagement", key="portfolio_delete_demo", icon=":material/delete:",
                     disabled=not sure or not ui_auth.allowed(Permission.UPLOAD)):
            st.session_state["_portfolio_outcome"] = portfolio_state.delete_demo(demo)
            st.rerun()
