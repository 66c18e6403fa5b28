"""Rows left out of a duration: the conditions the KPIs and the SLA engine share.

One list per ticket: a ticket MTTR leaves out (analytics.kpi_registry) is left out of the SLA
figures with the same label (analytics.sla_engine), so the two never disagree about which
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
NO_ACK = Exclusion("tickets without an acknowledgement", "acknowledged_at IS NULL")
ACK_BEFORE_OPEN = Exclusion("tickets acknowledged before they were opened", "acknowledged_at < opened_at")
ACK_EXCLUSIONS = (CANCELLED, NO_ACK, ACK_BEFORE_OPEN)
RESOLVE_EXCLUSIONS = (
    CANCELLED,
    Exclusion("tickets with zero duration (resolved the instant they were opened, e.g. "
              "bulk-imported history)", "resolved_at = opened_at"),
    Exclusion("tickets resolved before they were opened", "resolved_at < opened_at"),
)
