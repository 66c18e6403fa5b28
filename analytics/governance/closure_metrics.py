"""Closure criteria that rest on measures: SLA compliance (SLA engine) and KPI targets (KPI engine).

Both are evaluated as of a moment T over a window that ends at the end of the data or at T,
whichever is earlier (the default period's end, kpi.facts.period_of: an export that ended
long ago is judged over its last weeks, not over empty ones): the SLA engine stops no clock
after T, SLA compliance is the one cohort of analytics.sla.compliance.counts, and the KPI
engine runs over the window. Rules and their exact wording: analytics/governance/closure_rules.py.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd

from analytics.charts.kpi import fmt
from analytics.governance.closure_rules import AT_RISK, FAIL, NOT_MEASURABLE, PASS, ClosureRules, Outcome
from analytics.kpi import registry as reg
from analytics.kpi.facts import period_of
from analytics.kpi.kpis import MET, MISSED, status_of
from analytics.kpi.kpis import frame as kpi_frame
from analytics.sla import engine, policy
from analytics.sla.compliance import counts, in_cohort, wilson
from analytics.store import db
from analytics.store.filters import Filters
from analytics.store.periods import Period, undated

METRICS = ("response", "resolution")
SLA_EVIDENCE = ["ticket_id", "metric", "status", "severity", "type", "opened_at", "stopped_at",
                "target_minutes", "business_minutes", "policy_version"]
KPI_EVIDENCE = ["kpi", "service", "value", "unit", "target", "status", "n", "note"]


def stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


# --- 2. SLA compliance ------------------------------------------------------------------


def sla_target(con, rules: ClosureRules, at: datetime) -> tuple[float, str]:
    """The compliance target and where it comes from (the rules, else the policy in force)."""
    if rules.sla_target_pct is not None:
        return rules.sla_target_pct, "closure rules"
    pol = policy.policy_in_force(policy.policies(con), at.date())
    return pol.compliance_target_pct, f"SLA policy '{pol.version}'"


def window_end(con, at: datetime, filters: Filters) -> datetime:
    """Where the closure windows end: the default period's end (the day after the data's last
    event of the filtered tickets), or T when that is earlier."""
    return min(at, period_of(con, undated(filters), at).end)


def sla_window(con, at: datetime, filters: Filters, rules: ClosureRules) -> Period:
    """The SLA criterion's period: the `sla_window_days` before the window end, as of T."""
    end = window_end(con, at, filters)
    return Period(end - timedelta(days=rules.sla_window_days), end, at)


def sla_clocks(con, at: datetime, filters: Filters, rules: ClosureRules,
               rows: bool = True) -> tuple[dict[str, tuple[int, int]], pd.DataFrame | None]:
    """The SLA-compliance cohort of the SLA window (sla.compliance.counts): (met, n) per metric,
    and with `rows` one row per clock (SLA_EVIDENCE), breaches first. Building the rows costs
    many times the counts at a million tickets, so the scorecard asks for counts only."""
    period = sla_window(con, at, filters, rules)
    counted = counts(con, undated(filters), period).groupby("metric")[["met", "breached"]].sum()
    found = {m: (int(counted.loc[m, "met"]), int(counted.loc[m, "met"] + counted.loc[m, "breached"]))
             if m in counted.index else (0, 0) for m in METRICS}
    if not rows:
        return found, None
    clause, params = undated(filters).where()
    ev = engine.evaluate(con, as_of=at, where=f"({clause}) AND opened_at < $end", params={**params, "end": period.end})
    parts = []
    for m in METRICS:
        status = ev[f"{m}_status"].astype(str)
        stopped = pd.to_datetime(ev[f"{m}_stopped_at"])
        keep = in_cohort(ev, m, period.start, period.end)
        sel = ev[keep]
        parts.append(pd.DataFrame({
            "ticket_id": sel["ticket_id"].astype(str), "metric": m, "status": status[keep],
            "severity": sel["severity"].astype(object), "type": sel["type"].astype(object),
            "opened_at": sel["opened_at"], "stopped_at": stopped[keep],
            "target_minutes": sel[f"{m}_target_minutes"].round(1),
            "business_minutes": sel[f"{m}_business_minutes"].round(1),
            "policy_version": sel["policy_version"].astype(str)}))
    out = pd.concat(parts, ignore_index=True)[SLA_EVIDENCE]
    order = out["status"].map({"breached": 0, "met": 1})
    return found, out.assign(_o=order).sort_values(["_o", "stopped_at"], ascending=[True, False]) \
        .drop(columns="_o").reset_index(drop=True)


def sla(con, at: datetime, filters: Filters, rules: ClosureRules, rows: bool = True) -> Outcome:
    empty = pd.DataFrame(columns=SLA_EVIDENCE)
    try:
        target, origin = sla_target(con, rules, at)
        found, clocks = sla_clocks(con, at, filters, rules, rows)
    except (policy.PolicyError, ValueError) as exc:
        return Outcome(NOT_MEASURABLE, f"No SLA policy can be applied: {exc}", empty)
    total = sum(n for _, n in found.values())
    end = window_end(con, at, filters)
    window = f"the {rules.sla_window_days} days before {stamp(end)}"
    parts, states, missing = [], [], []
    for m in METRICS:
        met, n = found[m]
        if n == 0:
            missing.append(m)
            continue
        pct = 100.0 * met / n
        low, high = wilson(met, n)
        parts.append(f"{m} {pct:.1f} % ({met:,} of {n:,} met; 95 % range {low:.1f}–{high:.1f})")
        if pct < target:
            states.append(FAIL)
        elif pct < target + rules.sla_margin_pct or n < rules.sla_min_sample:
            states.append(AT_RISK)
        else:
            states.append(PASS)
    figures = "; ".join(parts)
    goal = f"Target {target:g} % ({origin})"
    if missing:
        text = f"No {' or '.join(missing)} clock stopped in {window}: nothing to judge"
        return Outcome(NOT_MEASURABLE, f"{text}{'; ' + figures if figures else ''}. {goal}.", clocks, total)
    if FAIL in states:
        return Outcome(FAIL, f"Below target over {window}: {figures}. {goal}.", clocks, total)
    if AT_RISK in states:
        return Outcome(AT_RISK, f"At or above target over {window}, but by less than {rules.sla_margin_pct:g} "
                       f"points or on fewer than {rules.sla_min_sample} clocks: {figures}. {goal}.", clocks, total)
    return Outcome(PASS, f"At or above target over {window}: {figures}. {goal}.", clocks, total)


# --- 3. KPI targets ---------------------------------------------------------------------


def kpi_period(con, at: datetime, rules: ClosureRules, filters: Filters = Filters()) -> Period:
    """[end − kpi_window_days, end) with end = window_end, starting at the go-live date when that
    is later (and before the end)."""
    end = window_end(con, at, filters)
    start = end - timedelta(days=rules.kpi_window_days)
    raw = db.get_setting(con, "go_live_date")
    try:
        go_live = datetime.combine(datetime.fromisoformat(raw).date(), time.min) if raw else None
    except ValueError:
        go_live = None
    if go_live is not None and start < go_live < end:
        start = go_live
    return Period(start, end, at, period_of(con, undated(filters), at).data_end)


def _fmt(value: float, unit: str) -> str:
    # Three decimals for a percentage: 99.895 % must not read as the 99.90 % target it misses.
    return f"{value:.3f} %" if unit == "%" else fmt(value, unit)


def kpi_evidence(con, at: datetime, filters: Filters, rules: ClosureRules) -> tuple[pd.DataFrame, Period]:
    """One row per KPI (service "all"), then per service for availability and MTBF."""
    period = kpi_period(con, at, rules, filters)
    df = kpi_frame(con, undated(filters), period, keys=tuple(rules.kpi_keys))
    targets = reg.targets(con)
    rows, services = [], []
    for key in rules.kpi_keys:
        k = reg.get(key)
        found = df[df["key"] == key].to_dict("records")
        r = found[0] if found else {"value": None, "n": 0, "extra": {},
                                    "reason": "not measurable: no tickets in the window."}
        value = None if r["value"] is None or pd.isna(r["value"]) else float(r["value"])
        target = targets[key]
        rows.append({"kpi": k.name, "service": "all", "value": value, "unit": k.unit, "target": target,
                     "status": status_of(k, value, target), "n": int(r["n"]), "note": r["reason"] or "",
                     "key": key})
        col = {"availability": "availability_pct", "mtbf": "mtbf_hours", "mtbsi": "mtbsi_hours"}.get(k.kind)
        for s in (r.get("extra") or {}).get("services", []) if col else []:
            v = s[col]
            services.append({"kpi": k.name, "service": s["service"], "value": v, "unit": k.unit,
                             "target": target, "status": status_of(k, v, target), "n": s["failures"],
                             "note": s.get("mtbf_reason") or "" if k.kind != "availability" else "", "key": key})
    return pd.DataFrame(rows + services, columns=[*KPI_EVIDENCE, "key"]), period


def kpis(con, at: datetime, filters: Filters, rules: ClosureRules, rows: bool = True) -> Outcome:
    ev, period = kpi_evidence(con, at, filters, rules)
    head = ev[ev["service"] == "all"]
    window = f"{period.start:%Y-%m-%d} – {stamp(period.end)}"
    said, missed, unknown, small = [], [], [], []
    for r in head.to_dict("records"):
        k = reg.get(r["key"])
        goal = "no target" if r["target"] is None else \
            f"target {'≥' if k.direction == reg.HIGHER else '≤'} {_fmt(r['target'], k.unit)}"
        if r["status"] in (MET, MISSED):
            said.append(f"{k.name} {_fmt(r['value'], k.unit)} ({goal}: {r['status']}, n = {r['n']:,})")
            if r["status"] == MISSED:
                missed.append(k.name)
            elif k.kind == "duration" and r["n"] < rules.kpi_min_sample:
                small.append(k.name)
        else:
            why = r["note"] or "no target set in Settings → KPI targets"
            why = why.removeprefix("not measurable: ").removeprefix("not computable: ").strip().rstrip(".")
            said.append(f"{k.name} {r['status']}: {why}")
            unknown.append(k.name)
    figures = "; ".join(said)
    evidence = ev.drop(columns="key")
    if missed:
        return Outcome(FAIL, f"Missed over {window}: {', '.join(missed)}. {figures}.", evidence)
    if len(unknown) == len(head):
        return Outcome(NOT_MEASURABLE, f"None of the KPIs can be judged over {window}. {figures}.", evidence)
    if unknown or small:
        why = [f"not judged: {', '.join(unknown)}"] if unknown else []
        why += [f"fewer than {rules.kpi_min_sample} tickets: {', '.join(small)}"] if small else []
        return Outcome(AT_RISK, f"No KPI missed over {window}, but {'; '.join(why)}. {figures}.", evidence)
    return Outcome(PASS, f"All met over {window}. {figures}.", evidence)
