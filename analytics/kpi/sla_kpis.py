"""SLA compliance KPIs: response and resolution met % per bucket and group, for analytics.kpi.kpis.frame.

The figures are analytics.sla.compliance.counts (the one SLA-compliance cohort: clocks that
stopped in the period, open-and-breached clocks beside them), turned into KPI rows.
"""

from __future__ import annotations

from typing import Any

from analytics.kpi import registry as reg
from analytics.sla.compliance import counts
from analytics.store.filters import Filters
from analytics.store.periods import ALL, Period


def sla_rows(con, filters: Filters, period: Period, kpis: list[reg.Kpi], grain: str | None,
             split: str | None) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"mean": None, "median": None, "p90": None, "excluded": (), "extra": {}, "n": 0}
    try:
        recs = counts(con, filters, period, grain=grain, split=split).to_dict("records")
    except ValueError as exc:  # a policy that cannot judge (PolicyError, none saved): say so; a bug propagates
        return [{**base, "bucket": None, "group": ALL, "key": k.key, "value": None,
                 "reason": f"not computable: {exc}"} for k in kpis]
    rows = []
    for k in kpis:
        m = "response" if k.key == "response_sla" else "resolution"
        for r in recs:
            if r["metric"] != m:
                continue
            met, n = int(r["met"]), int(r["met"]) + int(r["breached"])
            bucket = None if r["bucket"] == "current" else r["bucket"]
            rows.append({**base, "bucket": bucket, "group": r["grp"], "key": k.key, "n": n,
                         "value": 100.0 * met / n if n else None,
                         "reason": None if n else "not measurable: no SLA clock stopped in the period.",
                         "extra": {"open_breached": _int(r["open_breached"]),
                                   "not_applicable": _int(r["not_applicable"])}})
    return rows


def _int(v: Any) -> int | None:
    return None if v is None or v != v else int(v)
