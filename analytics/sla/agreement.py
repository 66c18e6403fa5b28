"""Hypercare's resolution-SLA verdict beside the source's own (source_sla_met), per severity.

Built on the SLA engine's per-ticket evaluation; only its resolution columns are read. Known
reasons the two disagree on real exports are in docs/sla.md ("Agreement with the source's own
SLA verdict").
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from analytics.sla.engine import evaluate
from analytics.store import units
from analytics.store.filters import UNMAPPED, Filters
from analytics.store.schema import SEVERITIES

DEFINITION = (
    "Agreement with the source's own SLA verdict: for every filtered ticket whose export carries one "
    "(ServiceNow made_sla; from an event log, the last event's value), the source's met or breached beside "
    "Hypercare's resolution verdict (opened to resolved, business time on the target's calendar, pause "
    "statuses excluded; an open ticket already past its target counts as breached). Agreement % = agree "
    "÷ (agree + source met but Hypercare breached + source breached but Hypercare met). Tickets Hypercare "
    "cannot judge (no resolution target for the severity, not measurable, clock still running) are "
    "counted apart and listed with the reason, not put in the percentage. Business hours are working "
    "hours on the target's calendar (plain hours on a 24x7 calendar)."
)

AGREE = "agree"
SOURCE_MET = "source met, Hypercare breached"
SOURCE_BREACHED = "source breached, Hypercare met"
RUNNING = "Hypercare clock still running"
NO_TARGET = "no Hypercare target"
NOT_MEASURABLE = "Hypercare not measurable"
KINDS = (AGREE, SOURCE_MET, SOURCE_BREACHED, RUNNING, NO_TARGET, NOT_MEASURABLE)

SUMMARY_COLUMNS = ("severity", "compared", "agree", "source_met_hypercare_breached",
                   "source_breached_hypercare_met", "no_hypercare_verdict", "agreement_pct")
DISAGREEMENT_COLUMNS = ("ticket_id", "severity", "source_verdict", "hypercare_verdict", "kind", "reason",
                        "business_time", "target", "business_minutes", "target_minutes",
                        "resolution_stopped_at", "resolution_breach_at")
_ENGINE_COLUMNS = ["ticket_id", "resolution_status", "resolution_reason", "resolution_business_minutes",
                   "resolution_target_minutes", "resolution_breach_at", "resolution_stopped_at"]
_TICKETS_SQL = ("SELECT ticket_id, coalesce(severity, $unmapped) AS severity, source_sla_met, resolved_at, closed_at, "
                "coalesce(reopen_count, 0) AS reopen_count FROM tickets WHERE source_sla_met IS NOT NULL AND ")


def compared_count(con, filters: Filters) -> int:
    """Filtered tickets that carry the source's own SLA verdict."""
    clause, params = filters.where()
    return con.cursor().execute(
        f"SELECT count(*) FROM tickets WHERE source_sla_met IS NOT NULL AND ({clause})", params).fetchall()[0][0]


def agreement(con, filters: Filters, as_of: datetime, *, frame: pd.DataFrame | None = None,
              policies=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary per severity plus "All", disagreements) over the filtered tickets with a source verdict.

    `frame`: the SLA engine's evaluation at `as_of` of at least those tickets, when the caller
    already has it (the SLA page); otherwise they are evaluated here with `policies` (None: the
    saved versions). The disagreements are every ticket whose kind is not "agree"."""
    clause, params = filters.where()
    tickets = con.cursor().execute(f"{_TICKETS_SQL}({clause})", {**params, "unmapped": UNMAPPED}).df()
    if frame is None:
        frame = evaluate(con, as_of=as_of, where=f"source_sla_met IS NOT NULL AND ({clause})", params=params,
                         policies=policies)
    t = tickets.merge(frame[_ENGINE_COLUMNS], on="ticket_id", how="left")
    t["resolution_status"] = t["resolution_status"].astype(object).fillna("not applicable").astype(str)
    t["resolution_reason"] = t["resolution_reason"].astype(object).fillna("not evaluated").astype(str)
    t["kind"] = _kinds(t)
    return _summary(t), _disagreements(t)


def _kinds(t: pd.DataFrame) -> np.ndarray:
    src, status = t["source_sla_met"].astype(bool), t["resolution_status"]
    judged = status.isin(["met", "breached"])
    return np.select(
        [judged & (status.eq("met") == src), src & status.eq("breached"), ~src & status.eq("met"),
         status.isin(["running", "paused"]), t["resolution_reason"].str.startswith("no resolution target")],
        [AGREE, SOURCE_MET, SOURCE_BREACHED, RUNNING, NO_TARGET], default=NOT_MEASURABLE)


def _summary(t: pd.DataFrame) -> pd.DataFrame:
    present = set(t["severity"])
    groups = [(s, t[t["severity"] == s]) for s in [*SEVERITIES, UNMAPPED] if s in present]
    rows = []
    for sev, g in [*groups, ("All", t)]:
        kind = pd.Series(g["kind"])
        agree, met_br, br_met = (int(kind.eq(k).sum()) for k in (AGREE, SOURCE_MET, SOURCE_BREACHED))
        judged = agree + met_br + br_met
        rows.append({"severity": sev, "compared": len(g), "agree": agree, "source_met_hypercare_breached": met_br,
                     "source_breached_hypercare_met": br_met, "no_hypercare_verdict": len(g) - judged,
                     "agreement_pct": round(100 * agree / judged, 1) if judged else None})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as people read it: worded headers, agreement as "80.8 %" ("—" with nothing judged)."""
    return pd.DataFrame({
        "severity": summary["severity"], "tickets compared": summary["compared"], "agree": summary["agree"],
        "source met, Hypercare breached": summary["source_met_hypercare_breached"],
        "source breached, Hypercare met": summary["source_breached_hypercare_met"],
        "no Hypercare verdict": summary["no_hypercare_verdict"],
        "agreement": [("—" if pd.isna(p) else f"{p:.1f} %") for p in summary["agreement_pct"]],
    })


def disagreement_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The disagreement list as people read it: verdicts and reasons in words, durations as text."""
    return pd.DataFrame({
        "ticket": rows["ticket_id"], "severity": rows["severity"], "source says": rows["source_verdict"],
        "Hypercare says": rows["hypercare_verdict"], "disagreement": rows["kind"], "reason": rows["reason"],
        "Hypercare business time": rows["business_time"], "target": rows["target"],
    })


def duration_text(minutes: float, business: bool = False) -> str:
    """Minutes as people write them (analytics.store.units.duration); "—" when missing."""
    if minutes is None or pd.isna(minutes):
        return units.NONE_TEXT
    return units.duration(float(minutes), business=business)


def _business(minutes: float) -> str:
    return f"{units.duration(minutes, business=True)} of business time"


def _reason(r) -> str:
    said = "met" if r.source_sla_met else "breached"
    margin = r.resolution_business_minutes - r.resolution_target_minutes
    stopped = not pd.isna(r.resolution_stopped_at)
    if r.kind == SOURCE_MET:
        text = (f"source says met, Hypercare breached: resolved {_business(margin)} after the target" if stopped
                else f"source says met, Hypercare breached: still open, {_business(margin)} past the target")
    elif r.kind == SOURCE_BREACHED:
        text = ("source says breached, Hypercare met: resolved exactly at the target" if margin > -0.5
                else f"source says breached, Hypercare met: resolved {_business(-margin)} inside the target")
    elif r.kind == RUNNING:
        text = (f"source says {said}; Hypercare: no verdict yet, clock {r.resolution_status} "
                f"({duration_text(r.resolution_business_minutes, True)} "
                f"of {duration_text(r.resolution_target_minutes, True)})")
    elif r.kind == NO_TARGET:
        text = f"source says {said} but Hypercare judges no target for this severity ({r.resolution_reason})"
    else:
        text = f"source says {said}; Hypercare: not measurable ({r.resolution_reason})"
    return text + "".join(f"; {hint}" for hint in _clock_hints(r, stopped))


def _clock_hints(r, stopped: bool) -> list[str]:
    """What in the ticket's own data suggests the two verdicts come from different clocks."""
    hints = []
    if r.kind == SOURCE_BREACHED and stopped and not pd.isna(r.closed_at):
        wait = (r.closed_at - r.resolution_stopped_at).total_seconds() / 60
        if wait >= 60:
            hints.append(f"the source's verdict may be from a different clock: closed {duration_text(wait)} "
                         "after resolution, "
                         "a wait that a clock stopping at closure counts")
    if stopped and r.kind in (SOURCE_MET, SOURCE_BREACHED) and pd.isna(r.resolved_at):
        hints.append("Hypercare's resolution time is from the status history (the export has no resolved_at)")
    if r.reopen_count > 0 and r.kind in (SOURCE_MET, SOURCE_BREACHED):
        hints.append(f"reopened {r.reopen_count:,} time{'s' if r.reopen_count > 1 else ''}: "
                     "the two clocks may treat the cycles differently")
    return hints


def _disagreements(t: pd.DataFrame) -> pd.DataFrame:
    d = t[t["kind"] != AGREE].copy()
    order = {s: i for i, s in enumerate([*SEVERITIES, UNMAPPED])}
    d = d.assign(_sev=d["severity"].map(order), _kind=d["kind"].map(KINDS.index)).sort_values(
        ["_sev", "_kind", "ticket_id"])
    out = pd.DataFrame({
        "ticket_id": d["ticket_id"], "severity": d["severity"],
        "source_verdict": np.where(d["source_sla_met"].astype(bool), "met", "breached"),
        "hypercare_verdict": d["resolution_status"], "kind": d["kind"],
        "reason": [_reason(r) for r in d.itertuples(index=False)],
        "business_time": d["resolution_business_minutes"].map(lambda m: duration_text(m, True)),
        "target": d["resolution_target_minutes"].map(lambda m: duration_text(m, True)),
        "business_minutes": d["resolution_business_minutes"].round(1),
        "target_minutes": d["resolution_target_minutes"].round(1),
        "resolution_stopped_at": d["resolution_stopped_at"], "resolution_breach_at": d["resolution_breach_at"],
    }, columns=list(DISAGREEMENT_COLUMNS))
    return out.reset_index(drop=True)
