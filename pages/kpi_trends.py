"""KPI trends: one KPI per day/week/month/quarter, split, with target, previous period and XmR."""

import streamlit as st

from analytics.charts import kpi
from analytics.kpi import registry
from analytics.store import periods
from ui import cache, kpi_state, page, widgets

con, filters, n = page.filtered_page("KPI trends")

names = {k.key: k.name for k in registry.KPIS if k.trend}
c1, c2, c3 = st.columns(3)
# In the URL like the filters (?kpi=MTTA&grain=month&split=severity): a bookmark reopens this chart.
key = c1.selectbox("KPI", list(names), format_func=names.get, key="kpi",
                   index=list(names).index("mttr"), bind="query-params")
grain = c2.selectbox("Grain", periods.GRAINS, index=1, key="grain", bind="query-params")
split = c3.selectbox("Split by", periods.SPLITS, key="split", bind="query-params")

target = kpi_state.targets(con)[key]
data = kpi_state.trend(con, filters, key, grain, split, cache.as_of_now())
# The table shows what the chart draws: its buckets, the control limits within the KPI's values.
widgets.chart(kpi.trend_chart(data, key, target, grain),
              kpi.describe_trend(data, key, target, grain), kpi.shown(data, key),
              key="chart_kpi_trend", definition=kpi.trend_definition(data, key, grain))
