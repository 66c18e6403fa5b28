"""KPI trends (being built); for now the weekly ticket volume by severity."""

import streamlit as st

from analytics import charts
from analytics.overview import DEFINITIONS
from ui import state, widgets

con = state.start_page()
filters = state.current_filters()

st.title("KPI trends")
n = widgets.filter_caption(con, filters)
widgets.being_built(
    "weekly trends of time to acknowledge, time to resolve, reopen rate and backlog, "
    "so you can see whether the service is settling after go-live."
)

if widgets.store_is_empty(con):
    widgets.empty_store_notice()
elif n == 0:
    widgets.no_match_notice()
else:
    weekly = state.overview_data(con, "weekly_volume_by_severity", filters)
    widgets.chart(charts.weekly_severity_chart(weekly), charts.describe_weekly(weekly), weekly,
                  key="chart_weekly", definition=f"{DEFINITIONS['weekly_by_severity']} n = {n:,}.")
