"""Recurrence (being built); for now the most frequent ticket titles."""

import streamlit as st

from analytics.overview import DEFINITIONS
from ui import state, widgets

con = state.start_page()
filters = state.current_filters()

st.title("Recurrence")
n = widgets.filter_caption(con, filters)
widgets.being_built(
    "clusters of similar tickets that keep coming back, how often they recur and whether "
    "they are linked to a problem record."
)

if widgets.store_is_empty(con):
    widgets.empty_store_notice()
elif n == 0:
    widgets.no_match_notice()
else:
    st.subheader("Top 10 titles")
    st.caption(widgets.escape_markdown(DEFINITIONS["top_titles"]))
    titles = state.overview_data(con, "top_titles", filters)
    widgets.table(titles, alt="Top 10 ticket titles by number of tickets", key="top_titles",
                  column_config={"first_opened": st.column_config.DatetimeColumn("First opened (UTC)"),
                                 "last_opened": st.column_config.DatetimeColumn("Last opened (UTC)")})
    widgets.download_csv(titles, "top_titles.csv", key="top_titles_csv")
