"""Availability, MTBF and MTBSI rows for analytics.kpi.kpis.frame, from merged outage episodes.

SQL (kpi.registry.OUTAGE_SQL over kpi_facts' incidents) selects and classifies the impact
windows; analytics.kpi.outage_episodes merges each service's windows into episodes, clips them to
each bucket and counts failures = episodes starting in it. The services in scope and the
sources that do not describe outages come from kpi_facts' `combos` (no scan of the tickets).
"""

from __future__ import annotations

from typing import Any

from analytics.kpi import facts, outage_episodes
from analytics.kpi import registry as reg
from analytics.store.filters import Filters
from analytics.store.periods import ALL, COMPARE, Period, split_sql, undated, windows

_COLUMN = {"availability": "availability_pct", "mtbf": "mtbf_hours", "mtbsi": "mtbsi_hours"}


def scope(con, filters: Filters, split: str | None) -> dict[Any, tuple[int, list[str]]]:
    """Per group: (services of the filtered tickets from sources that describe outages, the
    sources in scope that do not)."""
    rows = facts.query_combos(con, undated(filters), lambda where: f"""
        SELECT {split_sql(split)} AS grp,
            count(DISTINCT coalesce(service, '(no service)')) FILTER (WHERE outage_source) AS services,
            list(DISTINCT coalesce(source, '(no source)') ORDER BY coalesce(source, '(no source)'))
                FILTER (WHERE NOT outage_source) AS others
        FROM combos WHERE {where} GROUP BY ALL""", {}).fetchall()
    return {g: (int(n), list(o or [])) for g, n, o in rows}


def outage_rows(con, filters: Filters, period: Period, kpis: list[reg.Kpi], grain: str | None,
                split: str | None, severities: tuple[str, ...]) -> list[dict[str, Any]]:
    """Availability / MTBF / MTBSI per bucket and group (see the module docstring)."""
    if grain == COMPARE:
        # Each window on its own: the query reads only the outages overlapping its period, so
        # the previous window must be its own period (it once read the current one's outages,
        # giving 100 % availability and no MTBF for a previous month that had outages).
        rows = [{**r, "bucket": label} for label, p in (("current", period), ("previous", period.previous()))
                for r in outage_rows(con, filters, p, kpis, None, split, severities)]
        return rows
    wins = windows(period, grain)
    data_end = period.data_end or period.end
    observed = [max(b0, min(b1, period.as_of, data_end)) for _, b0, b1 in wins]
    clause, params = undated(filters).where()
    query_sql = reg.OUTAGE_SQL.format(group_sql=split_sql(split), clause=clause)
    found = facts.outage_query(con, severities, query_sql, {
        **params, "as_of": period.as_of, "severities": list(severities), "start": period.start,
        "end": period.end}).fetchnumpy()
    df = outage_episodes.frame(found, [(w[1], w[2], obs) for w, obs in zip(wins, observed, strict=True)])
    sev_text = "/".join(severities)
    in_scope = scope(con, filters, split)
    excl, used = df[df["why"] > 0], df[df["why"] == 0]
    groups = sorted(set(df["grp"]) | set(in_scope), key=str)
    rows = []
    for i, ((bucket, b0, _), b_end) in enumerate(zip(wins, observed, strict=True)):
        hours = (b_end - b0).total_seconds() / 3600.0
        for g in groups:
            excluded = tuple((reg.OUTAGE_WHY[int(r["why"])], int(r["n"]))
                             for r in excl[excl["grp"] == g].sort_values("why").to_dict("records"))
            part = used[(used["grp"] == g) & (used["bucket"] == i)]
            per_service = [_service_row(r["service"], int(r["n"]), float(r["down"]), hours)
                           for r in part.sort_values("service").to_dict("records")]
            services, others = in_scope.get(g, (0, []))
            rows += [_outage_kpi(k, bucket, g, per_service, excluded, sev_text, services, others, hours)
                     for k in kpis]
    if not groups:
        for bucket, _, _ in wins:
            rows += [{"bucket": bucket, "group": ALL, "key": k.key, "value": None, "n": 0,
                      "excluded": (), "extra": {"services": []}, "mean": None, "median": None,
                      "p90": None, "reason": f"not measurable: no tickets in scope. {k.how_to_fix}"}
                     for k in kpis]
    return rows


def _service_row(svc: str, fails: int, down: float, hours: float) -> dict[str, Any]:
    return {"service": svc, "failures": fails, "downtime_hours": down, "period_hours": hours,
            "availability_pct": 100.0 * (1 - down / hours) if hours > 0 else None,
            "mtbf_hours": (hours - down) / fails if fails >= 2 else None,
            "mtbsi_hours": hours / fails if fails >= 2 else None,
            "mtbf_reason": None if fails >= 2 else (
                f"{svc}: {'one failure' if fails == 1 else 'no failure started'} in the "
                f"period; MTBF needs at least two ({hours / 24:,.1f} days observed).")}


def _not_outages(others: list[str], sev_text: str) -> str:
    names = ", ".join(others) or "the sources in scope"
    return (f"{names} do{'es' if len(others) == 1 else ''} not describe service outages (their "
            f"{sev_text} tickets are not outages of a service)")


def _outage_kpi(k: reg.Kpi, bucket, g, per_service: list[dict], excluded, sev_text: str,
                services: int, others: list[str], hours: float) -> dict:
    col = _COLUMN[k.kind]
    values = [(r[col], r["service"]) for r in per_service if r[col] is not None]
    row = {"bucket": bucket, "group": g, "key": k.key, "excluded": excluded, "mean": None,
           "median": None, "p90": None, "n": sum(r["failures"] for r in per_service),
           "extra": {"services": per_service, "services_in_scope": services}, "value": None,
           "reason": None}
    if services == 0:
        row["reason"] = f"not measurable: {_not_outages(others, sev_text)}. {k.how_to_fix}"
    elif hours <= 0:
        row["reason"] = "not measurable: the data ends before the period starts."
    elif k.kind == "availability":
        down = sum(r["downtime_hours"] for r in per_service)
        row["value"] = 100.0 * (1 - down / (services * hours))
        if values:
            row["extra"]["lowest_value"], row["extra"]["lowest_service"] = min(values)
    elif values:
        row["value"], row["extra"]["lowest_service"] = min(values)
    else:
        why = "; ".join(r["mtbf_reason"] for r in per_service if r["mtbf_reason"])
        row["reason"] = f"not computable: {why or f'no {sev_text} outages in the period.'} " \
                        f"{k.how_to_fix if not per_service else ''}".strip()
    return row
