"""KPIs: every measure declared once, computed per period, bucket and group.

registry (each KPI's definition, cohort, exclusions and target: where "MTTR" is defined),
facts (per-ticket facts per store version; `facts.period_of`), kpis (`kpis.results`,
`kpis.frame`), sla_kpis and outages (the SLA and outage-based rows), outage_episodes, backlog,
trends (trend tables, XmR limits, the hypercare view), overview (volume, backlog, severity mix).
Imports analytics.store, analytics.ingest and analytics.sla.
"""

__all__ = ["backlog", "facts", "kpis", "outage_episodes", "outages", "overview", "registry",
           "sla_kpis", "trends"]
