"""Rows left out of a duration: the conditions the KPIs and the SLA engine share.

One list per ticket: a ticket MTTR leaves out (analytics.kpi.registry) is left out of the SLA
figures with the same label (analytics.sla.engine), so the two never disagree about which
tickets count. Conditions are SQL over the `tickets` columns, written by us (never user text).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exclusion:
    """Rows left out of a KPI: a SQL condition over a ticket and the label the UI shows."""

    label: str
    condition_sql: str


CANCELLED = Exclusion("cancelled tickets", "status_category = 'cancelled'")
CLOSED_NO_RESOLUTION = Exclusion(
    "tickets resolved or closed without a resolution time",
    "status_category IN ('resolved', 'closed') AND resolved_at IS NULL")
# A source that records the acknowledgement at the opening instant for at least this share of
# its acknowledged tickets (and at least this many of them) has no acknowledgement of its own
# to measure: the Volvo VINST log opens 84.6 % of its SRs with their acceptance event;
# ServiceNow 24.5 %, the help desk 1.7 %. Data quality flags it; MTTA leaves it out.
ACK_AT_OPEN_SHARE = 0.8
ACK_AT_OPEN_MIN_TICKETS = 20
ACK_AT_OPEN_SQL = f"""SELECT source FROM tickets WHERE acknowledged_at IS NOT NULL AND opened_at IS NOT NULL
    GROUP BY source HAVING count(*) >= {ACK_AT_OPEN_MIN_TICKETS}
    AND avg(CASE WHEN acknowledged_at = opened_at THEN 1.0 ELSE 0.0 END) >= {ACK_AT_OPEN_SHARE}"""
ACK_AT_OPEN = Exclusion(
    f"tickets of a source that records the acknowledgement at the opening instant for at least "
    f"{ACK_AT_OPEN_SHARE * 100:g} % of its acknowledged tickets (MTTA is not measurable there)",
    "ack_at_open_source")  # a column the KPI query derives from ACK_AT_OPEN_SQL
NO_ACK = Exclusion("tickets without an acknowledgement", "acknowledged_at IS NULL")
ACK_BEFORE_OPEN = Exclusion("tickets acknowledged before they were opened", "acknowledged_at < opened_at")
ACK_EXCLUSIONS = (CANCELLED, ACK_AT_OPEN, NO_ACK, ACK_BEFORE_OPEN)
RESOLVE_EXCLUSIONS = (
    CANCELLED,
    Exclusion("tickets with zero duration (resolved the instant they were opened, e.g. "
              "bulk-imported history)", "resolved_at = opened_at"),
    Exclusion("tickets resolved before they were opened", "resolved_at < opened_at"),
)
