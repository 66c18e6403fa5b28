"""SLA compliance KPIs: response and resolution met % from the SLA engine, per bucket and group.

Compliance = met ÷ (met + breached) among tickets whose clock stopped; open tickets already past
target are reported beside it ("open breached"), never folded in. The per-ticket judgements
come from analytics.sla_cache (the engine runs once per store version, not per filter).
"""

from __future__ import annotations

from typing import Any

from . import kpi_registry as reg
from .sla_cache import query
from .sla_engine import STATUS_TEXT
from .filters import Filters
from .kpi_trends import ALL, Period, bucket_sql, split_sql, undated

COMPARE = "compare"  # as analytics.kpis.COMPARE


def _counts_sql(m: str, text: list[str]) -> str:
    """Sums of the per-judgement counts; statuses are codes into `text` (sla_engine.STATUS_TEXT)."""
    st, met, br, na = f"{m}_status", text.index("met"), text.index("breached"), text.index("not applicable")
    return (f"coalesce(sum(n) FILTER (WHERE {st} = {met} AND {m}_stopped), 0) AS {m}_met, "
            f"coalesce(sum(n) FILTER (WHERE {st} = {br} AND {m}_stopped), 0) AS {m}_br, "
            f"coalesce(sum(n) FILTER (WHERE {st} = {br} AND NOT {m}_stopped), 0) AS {m}_open_br, "
            f"coalesce(sum(n) FILTER (WHERE {st} = {na}), 0) AS {m}_na")


def sla_rows(con, filters: Filters, period: Period, kpis: list[reg.Kpi], grain: str | None,
             split: str | None) -> list[dict[str, Any]]:
    base = {"mean": None, "median": None, "p90": None, "excluded": (), "extra": {}, "n": 0}
    clause, params = undated(filters).where()
    dated = f"({clause}) AND opened_at >= ? AND opened_at < ?"
    # grain "compare": two buckets, "current" (the period) and "previous" (the one before it).
    compare = grain == COMPARE
    bucket = "CASE WHEN opened_at >= ? THEN 'current' ELSE 'previous' END" if compare else \
        bucket_sql(grain, 'opened_at')
    # Count per judgement first (a few codes), then fold the counts per bucket and group.
    counts_sql = ", ".join(_counts_sql(m, STATUS_TEXT) for m in ("response", "resolution"))
    # A clock counts once it had stopped at the as-of time (the engine's stopped_at), exactly as
    # on the SLA page: a ticket resolved after the as-of time was still running then.
    stopped_sql = "response_stopped, resolution_stopped"
    body_sql = f"""SELECT bucket, grp, {counts_sql} FROM (
        SELECT {bucket} AS bucket, {split_sql(split)} AS grp,
            response_status, resolution_status, {stopped_sql}, count(*) AS n
        FROM tickets WHERE {dated} GROUP BY ALL) GROUP BY ALL ORDER BY bucket, grp"""
    try:
        recs = query(con, period.as_of, body_sql, [*([period.start] if compare else []), *params,
                                                   period.previous().start if compare else period.start,
                                                   period.end]).df().to_dict("records")
    except Exception as exc:  # e.g. no policy saved: say so
        return [{**base, "bucket": None, "group": ALL, "key": k.key, "value": None,
                 "reason": f"not computable: {exc}"} for k in kpis]
    rows = []
    for k in kpis:
        m = "response" if k.key == "response_sla" else "resolution"
        for r in recs:
            met, n = int(r[f"{m}_met"]), int(r[f"{m}_met"]) + int(r[f"{m}_br"])
            if compare and r["bucket"] == "current":
                r["bucket"] = None
            rows.append({**base, "bucket": r["bucket"] if grain else None, "group": r["grp"],
                         "key": k.key, "n": n, "value": 100.0 * met / n if n else None,
                         "reason": None if n else "not measurable: no ticket's SLA clock stopped.",
                         "extra": {"open_breached": int(r[f"{m}_open_br"]),
                                   "not_applicable": int(r[f"{m}_na"])}})
    return rows
