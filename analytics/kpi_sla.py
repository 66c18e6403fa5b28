"""SLA compliance KPIs: response and resolution met % from the SLA engine, per bucket and group.

Compliance = met ÷ (met + breached) among tickets whose clock stopped; open tickets already past
target are reported beside it ("open breached"), never folded in.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import kpi_registry as reg
from .filters import Filters
from .kpi_trends import ALL, Period, split_sql, undated

_PGRAIN = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}


def sla_rows(con, filters: Filters, period: Period, kpis: list[reg.Kpi], grain: str | None,
              split: str | None) -> list[dict[str, Any]]:
    base = {"mean": None, "median": None, "p90": None, "excluded": (), "extra": {}, "n": 0}
    try:
        from .sla_engine import evaluate
    except Exception:  # the engine is another module's work; never fake its numbers
        return [{**base, "bucket": None, "group": ALL, "key": k.key, "value": None,
                 "reason": "not computable: the SLA engine is not available."} for k in kpis]
    clause, params = undated(filters).where()
    dated = f"({clause}) AND opened_at >= ? AND opened_at < ?"
    try:
        ev = evaluate(con, as_of=period.as_of, where=dated, params=[*params, period.start, period.end])
    except Exception as exc:  # e.g. no policy saved: say so
        return [{**base, "bucket": None, "group": ALL, "key": k.key, "value": None,
                 "reason": f"not computable: {exc}"} for k in kpis]
    extra = con.cursor().execute(
        f"SELECT ticket_id, {split_sql(split)} AS grp, acknowledged_at FROM tickets WHERE {dated}",
        [*params, period.start, period.end]).df()
    ev = ev.merge(extra, on="ticket_id", how="left")
    ev["bucket"] = (pd.to_datetime(ev["opened_at"]).dt.to_period(_PGRAIN[grain]).dt.start_time.dt.date
                    if grain else None)
    closedish = ev["status_category"].astype(str).isin(["resolved", "closed"])
    rows = []
    for k in kpis:
        m = "response" if k.key == "response_sla" else "resolution"
        st = ev[f"{m}_status"].astype(str)
        stopped = closedish | (ev["acknowledged_at"].notna() if m == "response" else False)
        e = ev.assign(met=(st == "met") & stopped, br=(st == "breached") & stopped,
                      open_br=(st == "breached") & ~stopped)
        for (bucket, g), part in e.groupby(["bucket", "grp"], dropna=False, sort=True):
            n = int(part["met"].sum() + part["br"].sum())
            rows.append({**base, "bucket": None if pd.isna(bucket) else bucket, "group": g,
                         "key": k.key, "n": n,
                         "value": 100.0 * part["met"].sum() / n if n else None,
                         "reason": None if n else "not measurable: no ticket's SLA clock stopped.",
                         "extra": {"open_breached": int(part["open_br"].sum()),
                                   "not_applicable": int((st.loc[part.index] == "not applicable").sum())}})
    return rows
