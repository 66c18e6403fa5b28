"""The KPI registry: every KPI declared once, with its definition, cohort, exclusions and target.

`analytics.kpi.kpis` computes from these declarations, the pages and the CLI show their text, and
`scripts/gen_metrics_doc.py` writes docs/metrics.md from them. SQL fragments here are code
written by us (never user values); they run over the `tickets` columns plus derived ones:
`esc_level` (highest support tier number reached, from tickets.tier or status_history.tier),
`ack_at_open_source` (the ticket's source records its acknowledgement at the opening instant,
analytics.store.exclusions.ACK_AT_OPEN_SQL) and `t` (the cohort time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from analytics.sla.definitions import SLA_COMPLIANCE_TEXT
from analytics.store import db
from analytics.store.exclusions import (
    ACK_EXCLUSIONS,
    CANCELLED,
    CLOSED_NO_RESOLUTION,
    RESOLVE_EXCLUSIONS,
    Exclusion,
)

HIGHER, LOWER = "higher", "lower"
OPENED, RESOLVED, OPEN_AT, IMPACT, STOPPED = "opened", "resolved", "open_at", "impact", "stopped"
COHORT_TEXT = {
    OPENED: "tickets opened in the period (opened_at, UTC)",
    RESOLVED: "tickets resolved in the period (resolved_at, UTC)",
    OPEN_AT: "tickets open at the end of the period (or now, if earlier)",
    IMPACT: "outage windows (SEV-1/SEV-2 incidents of sources that describe service outages) "
            "overlapping the period, clipped to it and to the end of the data",
    STOPPED: "SLA clocks that stopped in the period (met or breached), whenever their ticket was "
             "opened; clocks running past their target at its end shown beside",
}
# Hypercare's own source label (the demo and the canonical CSV): its SEV-1/SEV-2 incidents are
# service outages. Every upload says so in datasets.describes_outages (from its profile); a
# ticket without that answer counts only if it is of this source (outage_source_sql).
HYPERCARE_SOURCE = "hypercare"
# Severities whose incidents count as outages (availability, MTBF); editable in Settings.
DEFAULT_OUTAGE_SEVERITIES: tuple[str, ...] = ("SEV-1", "SEV-2")
OUTAGE_SETTING = "kpi_outage_severities"


# The open backlog reads a ticket's status history; without one, these have no time to read.
BACKLOG_EXCLUSIONS = (
    Exclusion("cancelled tickets without a status history or a cancellation (closed_at) time",
              "status_category = 'cancelled' AND closed_at IS NULL"),
    Exclusion("tickets resolved or closed without a status history, a resolution or a closure time",
              "status_category IN ('resolved', 'closed') AND resolved_at IS NULL AND closed_at IS NULL"),
)
# Availability, MTBF, MTBSI: OUTAGE_SQL's `why` is the 1-based position of the first that matches.
OUTAGE_EXCLUSIONS = (
    Exclusion("incidents from sources whose SEV-1/SEV-2 tickets are not service outages",
              "NOT outage_source"),
    CANCELLED, CLOSED_NO_RESOLUTION,
    Exclusion("incidents with zero duration (start = end)", "e <= s"),
)


@dataclass(frozen=True)
class Kpi:
    """One KPI. `kind` says how analytics.kpi.kpis computes it:

    count: rows of the cohort; duration: `measure_sql` (in `unit`) over the cohort minus the
    exclusions, headline `statistic`, with mean, median and p90 beside it; rate: percentage of
    the included rows matching `numerator_sql`; backlog, backlog_age, availability, mtbf, mtbsi,
    sla: special computations described in `definition`.
    """

    key: str
    name: str
    definition: str
    start_event: str
    end_event: str
    statistic: str
    cohort: str
    kind: str
    unit: str
    direction: str
    how_to_fix: str
    default_target: float | None = None
    target_text: str = ""
    exclusions: tuple[Exclusion, ...] = ()
    scope_sql: str = ""  # rows outside the scope are not part of this KPI (not "excluded")
    scope_text: str = ""
    measure_sql: str = ""
    numerator_sql: str = ""
    trend: bool = True
    cli_fields: tuple[str, ...] = field(default=())

    @property
    def setting_key(self) -> str:
        return f"kpi_target.{self.key}"


def _secs(a: str, b: str) -> str:
    return f"(date_diff('millisecond', {a}, {b}) / 1000.0)"


RESOLVED_ONLY = "status_category IN ('resolved', 'closed')"
BACKLOG_TEXT = (
    "Tickets open at the end of the period (or now, if earlier): opened before it and not "
    "resolved, closed or cancelled by then. A ticket with a status history is read from it (its "
    "last status at that moment; a reopen makes it open again); one without, from its "
    "timestamps (done at the earlier of resolved_at and closed_at, a cancelled one at closed_at; "
    "a ticket open today counts as open since it was opened, as its older resolution was undone "
    "by a reopen).")

KPIS: tuple[Kpi, ...] = (
    Kpi("tickets", "Tickets", "Number of tickets opened in the period that match the filters.",
        "opened_at", "-", "count", OPENED, "count", "tickets", LOWER,
        "Load a ticket export on the Upload page.", trend=True, cli_fields=("tickets",)),
    Kpi("open_backlog", "Open backlog", BACKLOG_TEXT,
        "opened_at", "resolved, closed or cancelled (status history, else timestamps)", "count",
        OPEN_AT, "backlog", "tickets", LOWER,
        "Map opened_at and resolved_at (or a status history) on the Upload page.",
        exclusions=BACKLOG_EXCLUSIONS, cli_fields=("open",)),
    Kpi("backlog_age", "Backlog age (median)",
        "Median age of the open backlog (as defined for Open backlog) at the end of the period: "
        "end − opened_at, in days.",
        "opened_at", "end of period", "median", OPEN_AT, "backlog_age", "days", LOWER,
        "Map opened_at and resolved_at (or a status history) on the Upload page.",
        exclusions=BACKLOG_EXCLUSIONS, trend=False),
    Kpi("mtta", "MTTA", "Mean time to acknowledge: acknowledged_at − opened_at, in minutes.",
        "opened_at", "acknowledged_at", "mean (median and p90 beside)", OPENED, "duration",
        "minutes", LOWER,
        "MTTA needs an acknowledgement recorded apart from the opening: map one (e.g. 'Take in "
        "charge', first response) on the Upload page.",
        exclusions=ACK_EXCLUSIONS, measure_sql=_secs("opened_at", "acknowledged_at") + " / 60.0",
        cli_fields=("mtta_median_minutes", "mtta_mean_minutes")),
    Kpi("mttr", "MTTR", "Mean time to resolve: resolved_at − opened_at, in hours. Ends at "
        "resolution, never at closure (exports auto-close days later).",
        "opened_at", "resolved_at", "mean (median and p90 beside)", RESOLVED, "duration",
        "hours", LOWER, "MTTR needs a resolution-time column: map one on the Upload page.",
        exclusions=RESOLVE_EXCLUSIONS, measure_sql=_secs("opened_at", "resolved_at") + " / 3600.0",
        cli_fields=("mttr_median_hours", "mttr_mean_hours", "mttr_p90_hours")),
    Kpi("mttr_sev1", "MTTR SEV-1", "MTTR of SEV-1 tickets only: resolved_at − opened_at, hours.",
        "opened_at", "resolved_at", "mean (median and p90 beside)", RESOLVED, "duration",
        "hours", LOWER, "MTTR needs SEV-1 tickets with a resolution time: check the severity "
        "mapping and resolution column on the Upload page.", 4.0, "< 4 h (seed 003)",
        exclusions=RESOLVE_EXCLUSIONS, scope_sql="severity = 'SEV-1'", scope_text="SEV-1 only",
        measure_sql=_secs("opened_at", "resolved_at") + " / 3600.0"),
    Kpi("mttd", "MTTD", "Mean time to detect: detected_at − impact_started_at, in minutes.",
        "impact_started_at", "detected_at", "mean (median and p90 beside)", OPENED, "duration",
        "minutes", LOWER, "MTTD needs an impact-start column: map one on the Upload page.",
        5.0, "< 5 min (seed 003)",
        exclusions=(CANCELLED,
                    Exclusion("tickets without an impact start", "impact_started_at IS NULL"),
                    Exclusion("tickets without a detection time", "detected_at IS NULL"),
                    Exclusion("tickets whose impact start, detection and resolution are the "
                              "same instant (bulk-imported history)",
                              "impact_started_at = detected_at AND detected_at = resolved_at"),
                    Exclusion("tickets detected before impact started",
                              "detected_at < impact_started_at")),
        measure_sql=_secs("impact_started_at", "detected_at") + " / 60.0",
        cli_fields=("mttd_median_minutes",)),
    Kpi("mtbf", "MTBF", "Mean time between failures per service: (period − downtime) / "
        "failures, in hours; the card shows the lowest service. A failure is one merged outage "
        "(outage windows as for Availability; overlapping ones of a service count once) that "
        "starts in the period. A service needs at least two failures (with one, the period is "
        "only a lower bound). MTBSI = period / failures is shown beside it.",
        "end of previous outage", "start of next outage", "per service, lowest shown", IMPACT,
        "mtbf", "hours", HIGHER, "MTBF needs SEV-1/SEV-2 incidents with a service: check the "
        "severity and service mapping on the Upload page.", 720.0, "> 30 days (seed 003)",
        exclusions=OUTAGE_EXCLUSIONS, cli_fields=("mtbf_hours",)),
    Kpi("mtbsi", "MTBSI", "Mean time between service incidents (ITIL): period / failures, "
        "hours, per service (lowest shown); failures as for MTBF.",
        "period start", "period end", "per service, lowest shown", IMPACT, "mtbsi", "hours",
        HIGHER, "As MTBF.", exclusions=OUTAGE_EXCLUSIONS),
    Kpi("availability", "Availability", "Over all services in scope, time-weighted: 1 − total "
        "outage time / (services × period), in %, with the lowest service beside it (as every "
        "service is observed over the same period, this is the mean of the services' "
        "availabilities). Services in scope: those of the filtered tickets from sources whose "
        "SEV-1/SEV-2 tickets describe service outages (the source's profile says so; Hypercare's "
        "own data does). An outage is the impact window [coalesce(impact_started_at, opened_at), "
        "coalesce(mitigated_at, resolved_at)) of an incident of the outage severities (SEV-1/"
        "SEV-2, configurable; PagerDuty likewise counts the top two priorities), overlapping "
        "windows of a service merged; a window still open ends at the last event of its source's "
        "data. The period ends at the last event of the data (or now, if earlier), so no uptime "
        "or downtime is counted past the data.",
        "impact_started_at (else opened_at)", "mitigated_at (else resolved_at)",
        "over all services, lowest beside", IMPACT, "availability", "%", HIGHER,
        "Availability needs SEV-1/SEV-2 incidents with a service from a source that describes "
        "service outages: check the severity and service mapping and the source's profile on the "
        "Upload page.", 99.9, "> 99.9 % (seed 003)",
        exclusions=OUTAGE_EXCLUSIONS, cli_fields=("availability_pct",)),
    Kpi("response_sla", "Response SLA met", "Response clocks (opened → first response). "
        + SLA_COMPLIANCE_TEXT,
        "opened_at", "acknowledged_at", "percentage", STOPPED, "sla", "%", HIGHER,
        "Needs the SLA engine and an SLA policy (SLA page) and an acknowledgement column.",
        95.0, "> 95 % (seed 003)", cli_fields=("response_sla_met_pct",)),
    Kpi("resolution_sla", "Resolution SLA met", "Resolution clocks (opened → resolved). "
        + SLA_COMPLIANCE_TEXT,
        "opened_at", "resolved_at", "percentage", STOPPED, "sla", "%", HIGHER,
        "Needs the SLA engine and an SLA policy (SLA page) and a resolution-time column.",
        95.0, "> 95 % (seed 003)", cli_fields=("resolution_sla_met_pct",)),
    Kpi("reopen_rate", "Reopen rate", "Share of resolved or closed tickets reopened at least "
        "once (reopen_count > 0), in %.", "resolved_at", "-", "percentage", RESOLVED, "rate",
        "%", LOWER, "Map a reopen count on the Upload page (event logs derive it).",
        exclusions=(Exclusion("tickets without a reopen count", "reopen_count IS NULL"),),
        scope_sql=RESOLVED_ONLY, scope_text="resolved or closed tickets",
        numerator_sql="reopen_count > 0", cli_fields=("reopen_rate_pct",)),
    Kpi("reassignment_rate", "Reassignment rate", "Share of tickets reassigned at least once "
        "(reassignment_count > 0), in %.", "opened_at", "-", "percentage", OPENED, "rate", "%",
        LOWER, "Map a reassignment count on the Upload page (event logs derive it).",
        exclusions=(CANCELLED, Exclusion("tickets without a reassignment count",
                                         "reassignment_count IS NULL")),
        numerator_sql="reassignment_count > 0"),
    Kpi("escalation_rate", "Escalation rate", "Share of tickets that reached support tier 2 "
        "or higher (L2+), in %: the number in tickets.tier (the tier the export reports), or "
        "for a ticket without one, the highest tier in its status history.",
        "opened_at", "-", "percentage", OPENED, "rate", "%", LOWER,
        "Escalation needs a support tier (L1/L2/L3): map a tier or support-line column on the "
        "Upload page.",
        exclusions=(CANCELLED, Exclusion("tickets without a tier", "esc_level IS NULL")),
        numerator_sql="esc_level >= 2"),
    Kpi("first_time_fix", "First-time-fix rate", "Share of resolved or closed tickets "
        "resolved without a reassignment and without a reopen, in %.", "resolved_at", "-",
        "percentage", RESOLVED, "rate", "%", HIGHER,
        "Map reopen and reassignment counts on the Upload page (event logs derive them).",
        exclusions=(Exclusion("tickets without a reopen or reassignment count",
                              "reopen_count IS NULL OR reassignment_count IS NULL"),),
        scope_sql=RESOLVED_ONLY, scope_text="resolved or closed tickets",
        numerator_sql="reopen_count = 0 AND reassignment_count = 0"),
)
# Availability / MTBF: outage windows (why: 0 used, else the position of the first exclusion
# of OUTAGE_EXCLUSIONS that matches), merged per service into episodes (a window starting at
# or before the running end of the earlier ones joins their episode), clipped to each bucket;
# failures = episodes starting in the bucket. The SQL selects and classifies the windows over
# kpi_facts' incidents (with outage_source and data_end: the last event of the ticket's
# source); analytics.kpi.outage_episodes merges and clips them. Parameters: the filters'
# values, $as_of, $severities, the period's $start and $end.
OUTAGE_WHY = ("", *(e.label for e in OUTAGE_EXCLUSIONS))
OUTAGE_SQL = """WITH w AS (
    SELECT {group_sql} AS grp, coalesce(service, '(no service)') AS service,
        coalesce(impact_started_at, opened_at) AS s,
        CASE WHEN status_category = 'open' THEN coalesce(mitigated_at, resolved_at, least(data_end, $as_of))
             ELSE coalesce(mitigated_at, resolved_at) END AS e, status_category, outage_source
    FROM tickets WHERE {clause} AND list_contains($severities::VARCHAR[], severity)
        AND coalesce(type, 'incident') = 'incident'
        AND coalesce(impact_started_at, opened_at) < $end
        AND coalesce(mitigated_at, resolved_at, least(data_end, $as_of)) >= $start),
c AS (SELECT *, CASE WHEN NOT outage_source THEN 1 WHEN status_category = 'cancelled' THEN 2
                     WHEN e IS NULL THEN 3 WHEN e <= s THEN 4 ELSE 0 END AS why FROM w)
SELECT grp, service, why, epoch_ms(s) AS s_ms, coalesce(epoch_ms(e), 0) AS e_ms FROM c"""

BY_KEY: dict[str, Kpi] = {k.key: k for k in KPIS}
# Shown on the Overview as cards, in this order.
CARD_KEYS: tuple[str, ...] = ("mtta", "mttr", "mttr_sev1", "mttd", "availability", "mtbf",
                              "response_sla", "resolution_sla", "reopen_rate",
                              "reassignment_rate", "escalation_rate", "first_time_fix")


def get(key: str) -> Kpi:
    return BY_KEY[key]


def targets(con: duckdb.DuckDBPyConnection) -> dict[str, float | None]:
    """Target per KPI: the setting "kpi_target.<key>" if set (empty = no target), else the seed."""
    out: dict[str, float | None] = {}
    stored = db.get_settings(con, [k.setting_key for k in KPIS])  # one query, not one per KPI
    for k in KPIS:
        raw = stored.get(k.setting_key)
        if raw is None:
            out[k.key] = k.default_target
            continue
        try:
            out[k.key] = float(raw) if raw.strip() else None
        except ValueError:
            out[k.key] = k.default_target
    return out


def outage_source_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SQL, over a ticket `tk` and its dataset `d` (LEFT JOINed), for "its source describes
    service outages": datasets.describes_outages, from the uploading profile. A ticket without
    that answer -- no dataset row (inserted by a test or a script, not uploaded) or a dataset
    uploaded before the column existed (NULL) -- counts only if it is Hypercare's own source,
    whose SEV-1/SEV-2 incidents are outages (as its profiles say); any other is not counted.
    (`con` is kept for callers: db.init_schema adds the column to every store, so there is
    nothing to look up.)"""
    return f"coalesce(d.describes_outages, tk.source = '{HYPERCARE_SOURCE}')"


def outage_severities(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Severities counted as outages (setting "kpi_outage_severities", comma-separated)."""
    raw = db.get_setting(con, OUTAGE_SETTING)
    if not raw:
        return DEFAULT_OUTAGE_SEVERITIES
    return tuple(s.strip() for s in raw.split(",") if s.strip()) or DEFAULT_OUTAGE_SEVERITIES
