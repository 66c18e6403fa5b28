"""Recurrence: clusters of tickets that keep coming back, problem candidates, and patterns."""

import streamlit as st

from analytics.charts import recurrence as rc
from analytics.recurrence import clustering
from analytics.recurrence.patterns import DEFINITIONS as PATTERNS
from analytics.recurrence.patterns import DIMENSIONS
from ui import cache, page, widgets
from ui import recurrence_state as rstate

con, filters, n = page.filtered_page("Recurrence")

c1, c2, c3 = st.columns(3)
threshold = c1.slider("Title similarity threshold", 0.5, 1.0, rstate.default_threshold(con), 0.01,
                      key="rc_threshold", help="Normalised titles at least this similar (0–1) "
                      "merge into one cluster; 1.0 merges identical titles only.")
k = c2.number_input("Problem candidate: at least k tickets", 2, 1000, clustering.DEFAULT_MIN_TICKETS,
                    key="rc_k")
d = c3.number_input("… opened within d days", 1, 3650, clustering.DEFAULT_WINDOW_DAYS, key="rc_d")

try:
    everything = rstate.clusters(con, filters, threshold, d)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
clusters = clustering.recurring(everything)
candidates = clustering.problem_candidates(everything, k)
# The id and the lists are for the CSV and the drill-down; the figures come before the long texts,
# so that a table wider than the page scrolls to the least needed columns.
hidden = {"cluster_id": None, "ticket_ids": None, "services": None}
dates = {"label": st.column_config.TextColumn("Cluster"), "example_title": st.column_config.TextColumn("Example title"),
         "impact": st.column_config.NumberColumn("Impact", format="%,.1f", help=clustering.DEFINITIONS["impact"]),
         "first_seen": st.column_config.DatetimeColumn("First seen (UTC)"),
         "last_seen": st.column_config.DatetimeColumn("Last seen (UTC)"),
         "span_days": st.column_config.NumberColumn("Span (days)", format="%,.1f"),
         "mtbf_hours": st.column_config.TextColumn("MTBF"), "downtime_hours": st.column_config.TextColumn("Downtime"),
         **hidden}
order = ["label", "service", "component", "tickets", "impact", "kind", "last_seen", "downtime_hours", "mtbf_hours",
         "first_seen", "span_days", "max_in_window", "variants", "severities", "problem_ids", "example_title", "why"]

m1, m2, m3 = st.columns(3)
with m1:
    widgets.metric("Recurring clusters", len(clusters), clustering.DEFINITIONS["clusters"], key="rc_m_clusters")
with m2:
    widgets.metric("Tickets in them", int(clusters["tickets"].sum()), clustering.DEFINITIONS["clusters"],
                   key="rc_m_tickets")
with m3:
    widgets.metric("Problem candidates", len(candidates), clustering.DEFINITIONS["candidates"],
                   key="rc_m_candidates")

tab_clusters, tab_candidates, tab_patterns = st.tabs(["Clusters", "Problem candidates", "Patterns"])
with tab_clusters:
    st.caption(widgets.escape_markdown(f"{clustering.DEFINITIONS['clusters']} {clustering.DEFINITIONS['impact']}"))
    shown = rstate.top_first(clusters, "recurring clusters", "rc_show_all")
    widgets.table(shown, alt="Recurrence clusters with at least 2 tickets, highest impact first", key="rc_clusters",
                  column_config=dates, column_order=order)
    widgets.download_csv(rc.export_frame(clusters), "recurrence_clusters.csv", key="rc_csv",
                         label="Download clusters (CSV)")
    labels = rc.cluster_choices(shown)
    chosen = st.selectbox("Show the tickets of cluster", list(labels), format_func=labels.get,
                          index=None, key="rc_cluster", placeholder="Choose a cluster")
    if chosen is not None:
        row = clusters[clusters["cluster_id"] == chosen].iloc[0]
        st.caption(widgets.escape_markdown(f"Why grouped: {row['why']}"))
        widgets.table(rstate.cluster_tickets(con, row["ticket_ids"]), alt="Tickets of the chosen cluster",
                      key="rc_members", column_config={"opened_at": st.column_config.DatetimeColumn("Opened (UTC)")})
    st.subheader("Kinds of incident per service")
    st.caption(widgets.escape_markdown(clustering.DEFINITIONS["kinds"]))
    widgets.table(clustering.kinds_by_service(everything), alt="Frequent, rare and new clusters per service",
                  key="rc_kinds")

with tab_candidates:
    st.caption(widgets.escape_markdown(f"{clustering.DEFINITIONS['candidates']} k = {k}, d = {d}."))
    widgets.table(rstate.top_first(candidates, "problem candidates", "rc_show_all_candidates"),
                  alt="Problem candidates, highest impact first", key="rc_candidates", column_config=dates,
                  column_order=order)
    widgets.download_csv(rc.export_frame(candidates), "problem_candidates.csv", key="rc_candidates_csv",
                         label="Download problem candidates (CSV)")

with tab_patterns:
    p1, p2 = st.columns(2)
    dimension = p1.radio("Pareto of", list(DIMENSIONS), horizontal=True, key="rc_dim")
    measure = p2.radio("by", ["tickets", "downtime_hours"], horizontal=True, key="rc_measure",
                       format_func=rc.MEASURE_LABELS.get)
    par = rstate.pattern(con, "pareto", filters, dimension, measure)
    widgets.chart(rc.pareto_chart(par, dimension, measure), rc.describe_pareto(par, dimension, measure), par,
                  key="rc_pareto", definition=PATTERNS["pareto"])
    zones = cache.time_zones()
    tz_default = rstate.heatmap_timezone(con)
    tz = st.selectbox("Time zone of the heatmap", zones, index=zones.index(tz_default) if tz_default in zones
                      else 0, key="rc_tz")
    heat = rstate.pattern(con, "weekday_hour", filters, tz)
    widgets.chart(rc.heatmap_chart(heat, tz), rc.describe_heatmap(heat, tz), heat, key="rc_heatmap",
                  definition=PATTERNS["heatmap"])
    top_n = st.number_input("Repeat offenders: top N services", 1, 7, 5, key="rc_top")
    off = rstate.pattern(con, "repeat_offenders", filters, top_n)
    widgets.chart(rc.offenders_chart(off), rc.describe_offenders(off), off, key="rc_offenders",
                  definition=PATTERNS["offenders"])
    causes = rstate.pattern(con, "root_causes", filters)
    widgets.chart(rc.root_cause_chart(causes), rc.describe_root_causes(causes), causes, key="rc_causes",
                  definition=PATTERNS["root_causes"])
    by = st.radio("Reopen hotspots by", ["service", "category"], horizontal=True, key="rc_reopen_by")
    reopens = rstate.pattern(con, "reopen_hotspots", filters, by)
    widgets.chart(rc.reopen_chart(reopens, by), rc.describe_reopens(reopens, by), reopens, key="rc_reopens",
                  definition=PATTERNS["reopens"])
