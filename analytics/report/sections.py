"""The monthly report's metric sections: KPI summary, SLA compliance, trends, recurrence, appendix.

Each function gathers one section from the same core functions the pages use (so the report and
the dashboard show the same numbers) and returns it as text, tables and charts
(analytics/report/model.py). Status is always a symbol and a word, never colour alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from analytics.charts import kpi, sla
from analytics.charts import overview as charts
from analytics.charts.kpi import fmt
from analytics.kpi import overview, trends
from analytics.kpi import registry as reg
from analytics.kpi.facts import data_span, period_of
from analytics.kpi.kpis import KpiResult
from analytics.kpi.kpis import results as kpi_results
from analytics.recurrence import clustering
from analytics.report.model import Block, Chart, Section, Table, Text
from analytics.sla import compliance as comp
from analytics.sla import policy as sla_policy
from analytics.store.filters import Filters

# Symbol + word for every status the report prints (the PDF maps symbols its font lacks).
STATUS_SYMBOL = {"met": "✓", "pass": "✓", "missed": "✗", "fail": "✗", "at risk": "!",
                 "not measurable": "?", "no data": "?", "no target": "–"}
TOP_CLUSTERS = 10


def status_label(status: object) -> str:
    """"✓ met", "✗ missed", "? not measurable"…; unknown statuses are shown as they are."""
    text = str(status)
    base = text.split(" (")[0]
    symbol = STATUS_SYMBOL.get(base)
    return f"{symbol} {text}" if symbol else text


def month_start(filters: Filters) -> date:
    """The first day of the report's month: `filters.date_from`, which report.builder.builder.month_filters sets."""
    if filters.date_from is None:
        raise ValueError("a report section needs the month's filters (report.builder.month_filters), "
                         "not filters without a start date")
    return filters.date_from


# --- KPI summary ------------------------------------------------------------------------


def _target_text(k: reg.Kpi, target: float | None, unit: str) -> str:
    if target is None:
        return "none set"
    return f"{'≥' if k.direction == reg.HIGHER else '≤'} {fmt(target, unit)}"


def change_words(r: KpiResult) -> str:
    """The change against the previous month as people read it: "+8 h 37 min (worse)",
    "unchanged", or "–" when there is nothing to compare with."""
    moved = kpi.change(r)
    if moved is None:
        return "–"
    text, better, unchanged = moved
    return "unchanged" if unchanged else f"{text} ({'better' if better else 'worse'})"


def month_on_month(con: duckdb.DuckDBPyConnection, filters: Filters,
                   as_of: datetime) -> tuple[dict[str, KpiResult], str | None]:
    """The month's KPIs, each with the calendar month before as `previous` (the dashboard
    compares with as many days just before, which for a month is not the month before), and
    what limits the comparison: no data then, or data for part of that month only."""
    now = kpi_results(con, filters, as_of, previous=False)
    assert filters.date_from is not None
    last_day = filters.date_from - timedelta(days=1)
    first_day = last_day.replace(day=1)
    data_from = data_span(con, filters)[0]
    if data_from is None or data_from.date() > last_day:
        return now, f"no data before {filters.date_from:%B %Y}: no change to show"
    partial = data_from.date() > first_day
    before = kpi_results(con, filters.with_values(date_from=first_day, date_to=last_day), as_of, previous=False)
    out = {}
    for key, r in now.items():
        # A count over part of a month is not comparable with a whole month's; a duration, rate
        # or backlog is (on fewer tickets).
        prev = None if partial and reg.get(key).kind == "count" else before[key].value
        out[key] = replace(r, previous=prev, change=None if r.value is None or prev is None else r.value - prev)
    if partial:
        return out, f"{first_day:%B %Y} has data from {data_from:%d %B} only, so ticket counts are not compared"
    return out, None


def kpi_rows(results: dict[str, KpiResult]) -> pd.DataFrame:
    """The KPI summary's data: one row per registry KPI (raw numbers, status word)."""
    rows = []
    for k in reg.KPIS:
        r = results[k.key]
        rows.append({"key": k.key, "kpi": k.name, "unit": k.unit, "value": r.value,
                     "median": r.stats.get("median"), "p90": r.stats.get("p90"), "target": r.target,
                     "better": k.direction, "status": r.status, "n": r.n, "previous": r.previous,
                     "change": r.change, "excluded": sum(c for _, c in r.excluded),
                     "lowest_service": r.extra.get("lowest_service"), "reason": r.reason})
    return pd.DataFrame(rows)


def kpi_view(results: dict[str, KpiResult]) -> pd.DataFrame:
    rows = []
    for k in reg.KPIS:
        r = results[k.key]
        spread = (f"{fmt(r.stats['median'], r.unit)} · {fmt(r.stats['p90'], r.unit)}"
                  if r.stats.get("median") is not None else "–")
        rows.append({"KPI": k.name, "Value": fmt(r.value, r.unit), "Median · p90": spread,
                     "Target": _target_text(k, r.target, r.unit), "Status": status_label(r.status),
                     "n": f"{r.n:,}", "Previous month": fmt(r.previous, r.unit) if r.previous is not None else "–",
                     "Change": change_words(r)})
    return pd.DataFrame(rows)


def kpi_section(con: duckdb.DuckDBPyConnection, filters: Filters,
                as_of: datetime) -> tuple[Section, dict[str, KpiResult], str | None]:
    """The KPI detail table, and the results with the month before (month_on_month)."""
    results, no_change = month_on_month(con, filters, as_of)
    missed = [reg.get(k).name for k, r in results.items() if r.status == "missed"]
    met = sum(r.status == "met" for r in results.values())
    summary = (f"{met} KPI{'s' if met != 1 else ''} met their target, {len(missed)} missed"
               + (f" ({', '.join(missed)})" if missed else "") + ". Value = the KPI's statistic for "
               "the month (mean for durations; all services for availability, the lowest beside it; lowest "
               "service for MTBF); previous month = the calendar month before, as on page 1"
               + (f" ({no_change})" if no_change else "") + "; n = tickets (or failures) measured. Definitions "
               "and exclusions: appendix.")
    blocks: tuple[Block, ...] = (
        Text(summary),
        Table("kpis", "KPIs in detail", kpi_rows(results), view=kpi_view(results),
              widths=(2.1, 1.4, 2.5, 1.2, 1.7, 0.8, 1.3, 2.4)),
    )
    return Section("kpis", "KPI detail: spread, sample size and the month before", blocks), results, no_change


# --- SLA compliance ---------------------------------------------------------------------


def sla_section(con: duckdb.DuckDBPyConnection, filters: Filters,
                as_of: datetime) -> tuple[Section, pd.DataFrame | None, tuple[str, ...]]:
    """Compliance per severity and clock over the month's cohort (and its weekly counts, reused
    by the trends), as on the SLA page: sla.compliance.counts."""
    policy = sla_policy.policy_in_force(sla_policy.policies(con), month_start(filters))
    target = policy.compliance_target_pct
    period = period_of(con, filters, as_of)
    try:
        table = comp.compliance_table(comp.counts(con, filters, period, split="severity"), target,
                                      sla_policy.untargeted(policy))
        weekly = comp.counts(con, filters, period, grain="week")
        versions = tuple(comp.versions_used(con, filters, period))
    except ValueError as exc:  # e.g. a policy that cannot judge: say so instead of failing
        return Section("sla", "SLA compliance per severity",
                       (Text(f"SLA compliance could not be evaluated: {exc}"),)), None, ()
    view = comp.compliance_view(table)
    view["status"] = view["status"].map(status_label)
    blocks: tuple[Block, ...] = (
        Text(f"Clocks that stopped in the month ({period.label()}), open and breached at "
             f"{period.observed_end:%Y-%m-%d %H:%M} UTC, judged as of {as_of:%Y-%m-%d %H:%M} UTC by SLA "
             f"policy version(s) {', '.join(versions) or 'none'}; target {target:g} % (policy in force on "
             f"{filters.date_from:%d %b %Y})."),
        Text(comp.DEFINITIONS["compliance"], "note"),
        Table("compliance", "Compliance per severity and clock", table, view=view,
              widths=(1.3, 1.1, 2.6, 0.9, 1.0, 1.8, 1.3, 1.1)),
        Text(comp.DEFINITIONS["open_breached"], "note"),
        Chart("compliance_chart", sla.compliance_chart(table), sla.describe_compliance(table),
              table),
    )
    return Section("sla", "SLA compliance per severity", blocks), weekly, versions


# --- trends -----------------------------------------------------------------------------


def _weekly_table(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame({"week": []})
    wide = df.pivot_table(index="week", columns="severity", values="tickets", aggfunc="sum",
                          sort=False).fillna(0).astype("int64")
    wide["total"] = wide.sum(axis=1)
    wide = wide.sort_index()
    out = wide.map(lambda v: f"{v:,}").reset_index()
    out["week"] = [f"{w:%d %b %Y}" for w in wide.index]
    return out.rename(columns={"week": "week starting"})


def _mttr_table(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "week starting": [f"{pd.Timestamp(b):%d %b %Y}" for b in df["bucket"]],
        "MTTR": [fmt(None if pd.isna(v) else v, "hours") for v in df["value"]],
        "n": [f"{int(n):,}" for n in df["n"]],
        "previous period": [fmt(None if pd.isna(v) else v, "hours") for v in df["previous"]],
        "special cause": ["! yes (outside XmR limits)" if s else "no" for s in df["special_cause"]]})


def _sla_trend_table(trend: pd.DataFrame) -> pd.DataFrame:
    if trend.empty:
        return pd.DataFrame({"week starting": []})
    cell = trend.assign(text=[f"{p:.1f} % (n={n:,})" for p, n in zip(trend["compliance_pct"], trend["n"])])
    wide = cell.pivot(index="period", columns="metric", values="text").sort_index().fillna("–")
    out = wide.reset_index(drop=True)
    out.insert(0, "week starting", [f"{pd.Timestamp(p):%d %b %Y}" for p in wide.index])
    return out.rename_axis(columns=None)


def trends_section(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime,
                   sla_weekly: pd.DataFrame | None) -> Section:
    daily = overview.volume_by_day(con, filters, as_of)
    weekly = overview.weekly_volume_by_severity(con, filters)
    mttr = trends.trend(con, filters, "mttr", "week", as_of=as_of)
    target = reg.targets(con)["mttr"]
    blocks: list[Block] = [
        Text("Each chart is followed by its text alternative and, where it is short, its data; the "
             "full data of every chart is in the CSV/XLSX data pack."),
        Chart("daily_volume", charts.volume_by_day_chart(daily), charts.describe_volume_by_day(daily), daily),
        Chart("weekly_by_severity", charts.weekly_severity_chart(weekly), charts.describe_weekly(weekly),
              weekly, _weekly_table(weekly)),
        Chart("mttr_weekly", kpi.trend_chart(mttr, "mttr", target, "week"),
              kpi.describe_trend(mttr, "mttr", target, "week"), mttr, _mttr_table(mttr)),
    ]
    if sla_weekly is not None:
        sla_target = sla_policy.policy_in_force(sla_policy.policies(con), month_start(filters)).compliance_target_pct
        trend = comp.compliance_trend(sla_weekly)
        blocks.append(Chart("sla_weekly", sla.trend_chart(trend, sla_target, "week"),
                            sla.describe_trend(trend, "week"), trend, _sla_trend_table(trend)))
    return Section("trends", "Trends", tuple(blocks))


# --- recurrence -------------------------------------------------------------------------


def _cluster_view(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "cluster": list(df["label"]), "example title": list(df["example_title"]),
        "service": [s or "(none)" for s in df["service"]], "tickets": [f"{n:,}" for n in df["tickets"]],
        "first – last opened": [f"{pd.Timestamp(a):%d %b} – {pd.Timestamp(b):%d %b %Y}"
                                for a, b in zip(df["first_seen"], df["last_seen"])],
        "kind": list(df["kind"]), "problem": ["; ".join(p) or "none" for p in df["problem_ids"]]})


def _cluster_data(df: pd.DataFrame) -> pd.DataFrame:
    # Ticket id lists can run to thousands at scale: the pack keeps the counts, not the lists.
    out = df.drop(columns=["ticket_ids"]).copy()
    for col in ("services", "severities", "problem_ids"):
        out[col] = out[col].map(lambda v: "; ".join(str(x) for x in v))
    return out


def recurrence_section(con: duckdb.DuckDBPyConnection, filters: Filters) -> Section:
    found = clustering.clusters(con, filters, min_tickets=2)
    top = found.head(TOP_CLUSTERS)
    cands = clustering.problem_candidates(found).head(TOP_CLUSTERS)
    blocks: list[Block] = [
        Text(f"{len(found):,} clusters of recurring tickets (two or more tickets) in the month; the "
             f"{len(top)} with the highest impact below (tickets × (1 + downtime hours) × recency, as on the "
             "Recurrence page), then the problem candidates."),
        Text(clustering.DEFINITIONS["clusters"], "note"),
        Table("top_clusters", "Top recurring clusters", _cluster_data(top), view=_cluster_view(top),
              widths=(2.6, 2.6, 1.4, 0.9, 1.9, 0.9, 1.1)),
        Text(clustering.DEFINITIONS["candidates"], "note"),
        Table("problem_candidates", "Problem candidates (no linked problem yet)", _cluster_data(cands),
              view=_cluster_view(cands), widths=(2.6, 2.6, 1.4, 0.9, 1.9, 0.9, 1.1)),
    ]
    if found.empty:
        blocks = [Text("No ticket of the month recurs: no cluster has two or more tickets.")]
    return Section("recurrence", "Top recurring clusters", tuple(blocks))


# --- appendix ---------------------------------------------------------------------------


def definitions_table(results: dict[str, KpiResult]) -> pd.DataFrame:
    rows = []
    for k in reg.KPIS:
        r = results[k.key]
        rows.append({"key": k.key, "kpi": k.name, "definition": k.definition, "start": k.start_event,
                     "end": k.end_event, "statistic": k.statistic,
                     "cohort": reg.COHORT_TEXT[k.cohort] + (f", {k.scope_text}" if k.scope_text else ""),
                     "target": r.target, "seed_target": k.target_text, "n": r.n,
                     "exclusion_rules": "; ".join(e.label for e in k.exclusions),
                     "excluded": "; ".join(f"{c:,} {label}" for label, c in r.excluded),
                     "reason": r.reason})
    return pd.DataFrame(rows)


def appendix_section(results: dict[str, KpiResult]) -> Section:
    blocks: list[Block] = [Text("Every KPI of this report: what it measures, over which tickets, and "
                                "what it left out of this month's figure and why.")]
    for k in reg.KPIS:
        lines = kpi.definition_text(results[k.key]).split("\n")
        blocks.append(Text(k.name, "subheading"))
        blocks += [Text(line, "note") for line in lines]
    blocks.append(Text("SLA compliance", "subheading"))
    blocks += [Text(comp.DEFINITIONS[key], "note") for key in ("compliance", "open_breached", "at_risk")]
    blocks.append(Table("definitions", "Metric definitions", definitions_table(results), pdf=False))
    return Section("appendix", "Appendix: metric definitions and exclusions", tuple(blocks))
