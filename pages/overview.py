"""Overview: volume, open backlog and its age, severity mix for the filtered tickets."""

import streamlit as st

from analytics import charts
from analytics.overview import DEFINITIONS, figure_captions
from ui import state, widgets

con = state.start_page()
filters = state.current_filters()

st.title("Overview")
n = widgets.filter_caption(con, filters)

if widgets.store_is_empty(con):
    widgets.empty_store_notice()
    st.stop()
if n == 0:
    widgets.no_match_notice()
    st.stop()

as_of = state.as_of_now()
summary = state.overview_data(con, "summary", filters, as_of)
captions = figure_captions(summary)

c1, c2, c3 = st.columns(3)
with c1:
    widgets.metric("Tickets", summary["tickets"], captions["tickets"], key="m_tickets")
with c2:
    widgets.metric("Open backlog", summary["open_backlog"], captions["open_backlog"],
                   key="m_backlog")
with c3:
    widgets.metric("SEV-1 + SEV-2 open", summary["sev12_open"], captions["sev12_open"],
                   key="m_sev12")

left, right = st.columns(2)
with left:
    ageing = state.overview_data(con, "backlog_ageing", filters, as_of)
    widgets.chart(charts.ageing_chart(ageing), charts.describe_ageing(ageing), ageing,
                  key="chart_ageing", definition=captions["ageing"])
with right:
    mix = state.overview_data(con, "severity_mix", filters)
    widgets.chart(charts.severity_mix_chart(mix), charts.describe_severity_mix(mix), mix,
                  key="chart_severity", definition=captions["severity_mix"])

volume = state.overview_data(con, "volume_by_day", filters)
widgets.chart(charts.volume_by_day_chart(volume), charts.describe_volume_by_day(volume), volume,
              key="chart_volume", definition=captions["volume_by_day"])

st.subheader("Open backlog")
st.caption(widgets.escape_markdown(DEFINITIONS["open_backlog"]))
backlog = state.overview_data(con, "backlog", filters, as_of)
widgets.table(
    backlog,
    alt="Open backlog tickets, most severe and oldest first",
    key="backlog_table",
    column_config={
        "age_days": st.column_config.NumberColumn("Age (days)", format="%.1f"),
        "opened_at": st.column_config.DatetimeColumn("Opened (UTC)"),
    },
)
widgets.download_csv(backlog, "open_backlog.csv", key="backlog_csv",
                     label="Download open backlog (CSV)")
