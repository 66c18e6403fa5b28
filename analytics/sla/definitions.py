"""SLA compliance in words: the one cohort (analytics.sla.compliance.counts computes it) as the
SLA page, the KPI registry's cards, the closure criteria, the CLI and the report show it."""

from __future__ import annotations

SLA_SMALL_N = 30  # fewer stopped clocks: a small sample (the Wilson range is wide)
SLA_COMPLIANCE_TEXT = (
    "Compliance = met ÷ (met + breached) over the clocks that stopped in the period, whenever "
    "their ticket was opened (ServiceNow's SLA compliance): a response clock stops at the first "
    "response, a resolution clock at the resolution. Elapsed time is business minutes on the "
    "target's calendar, paused statuses excluded. Clocks still running past their target at the "
    "end of the period (or now, if earlier) are shown beside it as open and breached, never "
    "folded in. Cancelled tickets and tickets without a target are not applicable and counted "
    f"apart. The range is a 95 % Wilson interval; n < {SLA_SMALL_N} is a small sample.")
OPEN_BREACHED_TEXT = (
    "Open and breached: clocks still running at the end of the period (or now, if earlier) and "
    "already past their target then. They are not in the compliance figure (their clock has not "
    "stopped) but are never hidden.")
