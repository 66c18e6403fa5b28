"""SLA compliance (being built): response and resolution against each severity's target."""

import streamlit as st

from ui import state, widgets

con = state.start_page()
filters = state.current_filters()

st.title("SLA compliance")
widgets.filter_caption(con, filters)
widgets.being_built(
    "per severity, the share of tickets acknowledged and resolved within their SLA targets "
    "(business hours, paused statuses excluded), with the breaches listed."
)
