"""Overview: KPI cards, the hypercare view, volume, open backlog and its age, severity mix."""

import streamlit as st

from analytics.charts import kpi
from analytics.charts import overview as charts
from analytics.kpi import kpis, overview, registry
from analytics.kpi.overview import DEFINITIONS, figure_captions
from analytics.kpi.overview import backlog as backlog_rows
from analytics.store import engagements
from ui import cache, kpi_state, page, widgets


def _kpi_card(result: kpis.KpiResult) -> None:
    c = kpi.card(result)
    st.metric(c["label"], c["value"], delta=c["delta"] or None, delta_color=c["delta_colour"])
    st.caption(f"{c['icon']} {widgets.escape_markdown(c['status_text'] + ' · ' + c['target'])}")
    st.caption(widgets.escape_markdown(c["footnote"]))
    widgets.definition_popover(c["definition"].splitlines(), key=f"kpi_{result.key}_definition")


con, filters, n = page.filtered_page("Overview")

as_of = cache.as_of_now()
cube = cache.overview_data(con, "cube", filters, as_of)  # summary, volume, ageing, mix: one scan
summary = overview.summary_from(cube, as_of)
volume = overview.volume_from(cube)
captions = figure_captions(summary)

st.subheader("KPIs for the filtered period")
results = kpi_state.card_results(con, filters, as_of)
st.caption(widgets.escape_markdown(
    f"Period {results['mttr'].extra.get('period', '')} (UTC days): the date filter's days, or without one the "
    "data's span, from its first to its last event of any kind. Each card's Definition says what it counts."))
for row_start in range(0, len(registry.CARD_KEYS), 4):
    for col, key in zip(st.columns(4), registry.CARD_KEYS[row_start:row_start + 4]):
        with col:
            _kpi_card(results[key])
per_service = st.expander("Availability, MTBF and MTBSI per service", key="kpi_services", on_change="rerun")
if per_service.open:  # lazy: built only while open
    with per_service:
        widgets.table(kpi.service_table(results["availability"]),
                      alt="Availability, MTBF and MTBSI per service", key="kpi_services_table")

st.subheader("Hypercare")
engagement = engagements.details(None, con)  # go-live and hypercare window of this store's engagement
go_live = engagement.go_live
if go_live is None:
    st.info("No go-live date set. Set it under Settings → Go-live date to see daily tickets "
            "during the hypercare window and after.", icon=":material/event:")
    st.page_link("pages/settings.py", label="Go to Settings", icon=":material/settings:")
else:
    window = engagement.window_days
    daily = overview.hypercare_from(volume, go_live, window)
    widgets.chart(kpi.hypercare_chart(daily, go_live, window),
                  kpi.describe_hypercare(daily, go_live, window), daily, key="chart_hypercare",
                  definition=f"Tickets opened per UTC day from the go-live date, the first {window} days "
                  f"(the hypercare window, to {engagement.window_end:%d %b %Y}) hatched, with the trailing "
                  "7-day mean of daily tickets.")

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
    ageing = overview.ageing_from(cube)
    widgets.chart(charts.ageing_chart(ageing), charts.describe_ageing(ageing), ageing,
                  key="chart_ageing", definition=captions["ageing"])
with right:
    mix = overview.mix_from(cube)
    widgets.chart(charts.severity_mix_chart(mix), charts.describe_severity_mix(mix), mix,
                  key="chart_severity", definition=captions["severity_mix"])

# The hypercare chart is the daily volume from go-live: the plain one only for what it does not show.
if go_live is None or (len(volume) and volume["day"].min() < go_live):
    widgets.chart(charts.volume_by_day_chart(volume), charts.describe_volume_by_day(volume), volume,
                  key="chart_volume", definition=captions["volume_by_day"])

st.subheader("Open backlog")
st.caption(widgets.escape_markdown(DEFINITIONS["open_backlog"]))
backlog = cache.overview_data(con, "backlog_first", filters, as_of)
if summary["open_backlog"] > len(backlog):
    st.caption(f"The {len(backlog):,} most severe and oldest of {summary['open_backlog']:,} open tickets; "
               "the CSV has all of them.")
widgets.table(
    backlog,
    alt="Open backlog tickets, most severe and oldest first",
    key="backlog_table",
    column_config={
        "age_days": st.column_config.NumberColumn("Age (days)", format="%.1f"),
        "opened_at": st.column_config.DatetimeColumn("Opened (UTC)"),
    },
)
page.download_rows(backlog_rows, con, filters, as_of, file_name="open_backlog.csv", key="backlog_csv",
                   label="Download open backlog (CSV)")
