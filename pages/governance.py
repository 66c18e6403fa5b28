"""Governance (being built); for now the open SEV-1/SEV-2 tickets."""

import streamlit as st

from analytics.overview import DEFINITIONS
from ui import state, widgets

con = state.start_page()
filters = state.current_filters()

st.title("Governance")
n = widgets.filter_caption(con, filters)
widgets.being_built(
    "the hypercare exit criteria: open major incidents, post-incident reviews due and done, "
    "problem records and changes linked to incidents."
)

if widgets.store_is_empty(con):
    widgets.empty_store_notice()
elif n == 0:
    widgets.no_match_notice()
else:
    major = state.overview_data(con, "open_major_tickets", filters)
    st.subheader(f"Open SEV-1/SEV-2 tickets: {len(major):,}")
    st.caption(widgets.escape_markdown(DEFINITIONS["open_major"]))
    widgets.table(major, alt="Open SEV-1 and SEV-2 tickets, oldest first", key="open_major",
                  column_config={"opened_at": st.column_config.DatetimeColumn("Opened (UTC)")})
    widgets.download_csv(major, "open_sev1_sev2.csv", key="open_major_csv")
