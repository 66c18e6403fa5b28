"""SLA compliance from the per-ticket evaluation: the figures the SLA page and reports show.

Definitions (stated once; the page shows DEFINITIONS verbatim):
- compliance % = met / (met + breached) over clocks that STOPPED (the ticket was answered, or
  resolved) — ServiceNow's formula. Cancelled and not-applicable tickets are excluded and counted.
- open-and-breached: clocks still running past their target; reported beside compliance, never
  folded into it and never hidden.
- Wilson score interval (95 %) for every compliance figure; "small sample" when n < 30.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from .schema import SEVERITIES

METRICS = ("response", "resolution")
SMALL_N = 30
Z95 = 1.959963984540054

DEFINITIONS = {
    "compliance": (
        "Compliance = met ÷ (met + breached) among tickets whose clock stopped (answered for "
        "response, resolved for resolution); business minutes on the target's calendar, paused "
        "statuses excluded. Cancelled tickets and tickets without a target are left out and counted. "
        "The range is a 95 % Wilson interval; n < 30 is marked as a small sample."
    ),
    "open_breached": (
        "Open and breached: tickets whose clock is still running and already past its target. "
        "They are not in the compliance figure (their clock has not stopped) but are never hidden."
    ),
    "at_risk": (
        "At risk: open tickets by share of the target consumed (50–75 %, 75–90 %, 90–100 %, over 100 %), "
        "with the time left until the breach (response clock while unanswered, else resolution)."
    ),
    "breaches": "Breaches: tickets whose stopped clock exceeded its target, most recent first.",
}


def wilson(met: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion, in percent; (None, None) when n = 0."""
    if n <= 0:
        return None, None
    p = met / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(100 * max(0.0, centre - half), 2), round(100 * min(1.0, centre + half), 2)


def _stopped(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    status = frame[f"{metric}_status"].astype(str)
    stopped = frame[f"{metric}_stopped_at"].notna() & status.isin(["met", "breached"])
    return frame[stopped]


def compliance_table(frame: pd.DataFrame, target_pct: float = 95.0) -> pd.DataFrame:
    """One row per severity × metric (plus "All"): met, breached, n, %, Wilson range, status."""
    rows = []
    severities = [*SEVERITIES, "All"]
    for metric in METRICS:
        done = _stopped(frame, metric)
        status = done[f"{metric}_status"].astype(str)
        excluded = frame[f"{metric}_status"].astype(str).eq("not applicable").groupby(
            frame["severity"].astype(str)).sum() if len(frame) else pd.Series(dtype=int)
        open_breached = frame[frame[f"{metric}_stopped_at"].isna()
                              & frame[f"{metric}_status"].astype(str).eq("breached")]
        for sev in severities:
            mask = slice(None) if sev == "All" else done["severity"].astype(str).eq(sev)
            met = int((status[mask] == "met").sum())
            breached = int((status[mask] == "breached").sum())
            n = met + breached
            low, high = wilson(met, n)
            pct = round(100 * met / n, 2) if n else None
            ob = len(open_breached) if sev == "All" else int(open_breached["severity"].astype(str).eq(sev).sum())
            na = int(excluded.sum()) if sev == "All" else int(excluded.get(sev, 0))
            rows.append({
                "metric": metric, "severity": sev, "met": met, "breached": breached, "n": n,
                "compliance_pct": pct, "wilson_low": low, "wilson_high": high, "target_pct": target_pct,
                "status": _verdict(pct, target_pct, n), "small_sample": 0 < n < SMALL_N,
                "open_breached": ob, "not_applicable": na,
            })
    return pd.DataFrame(rows)


def compliance_view(table: pd.DataFrame) -> pd.DataFrame:
    """The compliance table as people read it: '89.1 % (88.4–89.6)', n, status word, small-sample note."""
    def pct(r) -> str:
        if r.compliance_pct is None or pd.isna(r.compliance_pct):
            return "—"
        return f"{r.compliance_pct:.1f} % ({r.wilson_low:.1f}–{r.wilson_high:.1f})"
    return pd.DataFrame({
        "clock": table["metric"], "severity": table["severity"],
        "compliance (95 % range)": [pct(r) for r in table.itertuples()],
        "n": table["n"], "target": table["target_pct"].map(lambda t: f"{t:g} %"),
        "status": [f"{s} (small sample)" if small else s for s, small in zip(table["status"], table["small_sample"])],
        "open and breached": table["open_breached"], "no target": table["not_applicable"],
    })


def _verdict(pct: float | None, target: float, n: int) -> str:
    if pct is None:
        return "no data"
    return "met" if pct >= target else "missed"


def compliance_trend(frame: pd.DataFrame, grain: str = "week") -> pd.DataFrame:
    """Compliance per period of the clock's stop time: period, metric, met, n, %, Wilson range."""
    if grain not in ("week", "month"):
        raise ValueError(f"grain must be week or month, not {grain!r}")
    out = []
    for metric in METRICS:
        done = _stopped(frame, metric)
        if done.empty:
            continue
        stopped = pd.to_datetime(done[f"{metric}_stopped_at"])
        # Weeks start on Monday (ISO); months on the 1st.
        period = stopped.dt.to_period("W-SUN" if grain == "week" else "M").dt.start_time
        grouped = done.assign(period=period, met=done[f"{metric}_status"].astype(str).eq("met")).groupby("period")
        for start, g in grouped:
            met, n = int(g["met"].sum()), len(g)
            low, high = wilson(met, n)
            out.append({"period": start, "metric": metric, "met": met, "n": n,
                        "compliance_pct": round(100 * met / n, 2), "wilson_low": low, "wilson_high": high})
    return pd.DataFrame(out, columns=["period", "metric", "met", "n", "compliance_pct", "wilson_low", "wilson_high"])


_LIST_COLS = ["ticket_id", "severity", "type", "opened_at", "policy_version"]


def open_breached(frame: pd.DataFrame) -> pd.DataFrame:
    """Open clocks already past target, with business and calendar minutes side by side."""
    parts = []
    for metric in METRICS:
        sel = frame[frame[f"{metric}_stopped_at"].isna() & frame[f"{metric}_status"].astype(str).eq("breached")]
        parts.append(_clock_view(sel, metric))
    return pd.concat(parts, ignore_index=True).sort_values("breach_at") if parts else pd.DataFrame()


def at_risk(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Open tickets in an at-risk bucket, with time left until the breach (hours)."""
    sel = frame[frame["at_risk_bucket"].notna() & frame["status_category"].astype(str).eq("open")].copy()
    sel["hours_to_breach"] = ((pd.to_datetime(sel["breach_at"]) - pd.Timestamp(as_of)).dt.total_seconds() / 3600
                              ).round(1)
    cols = [*_LIST_COLS, "at_risk_bucket", "consumed_pct", "breach_at", "hours_to_breach",
            "escalate_next_tier", "escalate_incident_lead"]
    return sel[cols].sort_values("breach_at").reset_index(drop=True)


def breaches(frame: pd.DataFrame) -> pd.DataFrame:
    """Stopped clocks that exceeded their target, most recent breach first."""
    parts = [_clock_view(_stopped(frame, m)[lambda d, m=m: d[f"{m}_status"].astype(str).eq("breached")], m)
             for m in METRICS]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("breach_at", ascending=False).reset_index(drop=True)


def _clock_view(sel: pd.DataFrame, metric: str) -> pd.DataFrame:
    view = sel[_LIST_COLS].copy()
    view.insert(1, "clock", metric)
    view["target_minutes"] = sel[f"{metric}_target_minutes"].round(1)
    view["business_minutes"] = sel[f"{metric}_business_minutes"].round(1)
    view["calendar_minutes"] = sel[f"{metric}_calendar_minutes"].round(1)
    view["paused_minutes"] = sel["paused_minutes"].round(1)
    view["breach_at"] = sel[f"{metric}_breach_at"]
    view["calendar"] = sel[f"{metric}_clock"]
    return view.reset_index(drop=True)


def versions_used(frame: pd.DataFrame) -> list[str]:
    """The policy versions the evaluated tickets were judged by (a report names them)."""
    return sorted(v for v in frame["policy_version"].dropna().astype(str).unique())


def clock_summary(tl: dict) -> pd.DataFrame:
    """One row per clock of a ticket timeline: business and calendar minutes side by side."""
    ev = tl["evaluation"]
    rows = []
    for metric in METRICS:
        clock = tl["clocks"].get(metric, {})
        rows.append({
            "clock": metric, "calendar": ev.get(f"{metric}_clock"), "status": ev.get(f"{metric}_status"),
            "target_minutes": ev.get(f"{metric}_target_minutes"),
            "business_minutes": ev.get(f"{metric}_business_minutes"),
            "calendar_minutes": ev.get(f"{metric}_calendar_minutes"),
            "started": clock.get("start"), "stopped": clock.get("end"), "breach_at": ev.get(f"{metric}_breach_at"),
            "reason": ev.get(f"{metric}_reason"),
        })
    return pd.DataFrame(rows)


def history_table(tl: dict) -> pd.DataFrame:
    """The ticket's status history, each change marked when its status paused the clock."""
    pausing = {p["status"] for p in tl["pause_segments"]}
    hist = pd.DataFrame(tl["history"], columns=["event_time", "seq", "status", "team", "tier"])
    hist["pauses_clock"] = hist["status"].isin(pausing)
    return hist
