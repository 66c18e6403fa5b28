"""Defect triage SLAs (seed 000) for tickets typed defect, and the bug / enhancement / question split.

Targets are declared once in `TARGETS`; `DEFINITION` and each target's texts are what the UI
shows. Decisions (docs/governance.md, "Defect triage", repeats them with examples):
- Class from severity: Critical = SEV-1, High = SEV-2, Medium = SEV-3, Low = SEV-4.
- Acknowledged = acknowledged_at, or resolved_at for a defect resolved without one (as the
  SLA engine does). Clocks are wall-clock from opened_at; pause statuses do not stop them.
- Critical: acknowledged within 60 min (exactly 60 min is met), fixed (resolved_at) within 24 h.
- High: acknowledged by the close of the business day it was opened on — opened before opening
  time counts that day, opened at or after closing time or on a day off gives the close of the
  next business day — on the working-hours calendar of the SLA policy in force on the opening
  day (the calendar of its SEV-2 defect response target, else "business", else its first).
  Fixed within 3 calendar days (72 h): the seed says "days", not business days, and the
  default SLA policy reads it the same way.
- Medium / Low: "schedule in the next sprint or maintenance window": an open defect meets it
  when it has a target release (sprint / version) or a due date. The export is a snapshot, so
  the schedule fields are read as they are now; resolved defects need no schedule.
- Met / missed is None while a target is not yet due (the defect is open and its deadline has
  not passed at as_of) or cannot be measured (resolved without a resolution time).
- Excluded: cancelled, opened after as_of, no opened_at, no severity mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from analytics.sla.business_days import close_of_business, policy_index, working_calendar
from analytics.sla.policy import policies as saved_policies
from analytics.store import db
from analytics.store.filters import Filters
from analytics.store.periods import normalise_as_of


@dataclass(frozen=True)
class TriageTarget:
    """One triage class: its severity and targets (minutes are wall-clock)."""

    name: str
    severity: str
    ack_minutes: float | None = None
    ack_same_business_day: bool = False
    fix_minutes: float | None = None
    schedule: bool = False  # Medium/Low: scheduled in the next sprint or maintenance window

    @property
    def ack_target(self) -> str | None:
        if self.ack_minutes is not None:
            return f"acknowledge within {_duration(self.ack_minutes)}"
        return "acknowledge the same business day" if self.ack_same_business_day else None

    @property
    def fix_target(self) -> str | None:
        return f"fix within {_duration(self.fix_minutes)}" if self.fix_minutes is not None else None

    @property
    def text(self) -> str:
        parts = [p for p in (self.ack_target, self.fix_target) if p]
        if self.schedule:
            parts.append("schedule in the next sprint or maintenance window")
        return f"{self.name} ({self.severity}): " + ", ".join(parts)


def _duration(minutes: float) -> str:
    if minutes % 1440 == 0:
        return f"{minutes / 1440:g} day{'s' if minutes != 1440 else ''} ({minutes / 60:g} h)"
    return f"{minutes / 60:g} h" if minutes % 60 == 0 else f"{minutes:g} min"


TARGETS: tuple[TriageTarget, ...] = (
    TriageTarget("Critical", "SEV-1", ack_minutes=60, fix_minutes=24 * 60),
    TriageTarget("High", "SEV-2", ack_same_business_day=True, fix_minutes=3 * 24 * 60),
    TriageTarget("Medium", "SEV-3", schedule=True),
    TriageTarget("Low", "SEV-4", schedule=True),
)
DEFINITION = (
    "Defect triage targets for tickets typed defect (seed 000): " + "; ".join(t.text for t in TARGETS) + ". "
    "Acknowledged = acknowledged_at (resolved_at for a defect resolved without one); fixed = resolved_at. "
    "Wall-clock time from opened_at; \"same business day\" = by the close of the business day the defect "
    "was opened on (opened at or after closing time, or on a day off: the close of the next business day) "
    "on the SLA policy's working-hours calendar; \"3 days\" = 72 calendar hours. Medium/Low: an open defect "
    "meets its target when it has a target release (sprint/version) or a due date. A target not yet due, or "
    "not measurable, counts neither as met nor as missed. Met % = met ÷ (met + missed). Cancelled defects, "
    "defects opened after the as-of time and defects without a severity are excluded."
)
TAGS: dict[str, str] = {"defect": "bug", "enhancement": "enhancement", "question": "question"}
COLUMNS = ("ticket_id", "external_id", "title", "severity", "class", "status_category", "opened_at",
           "acknowledged_at", "resolved_at", "ack_target", "ack_due_at", "ack_met", "fix_target", "fix_due_at",
           "fix_met", "scheduled", "schedule_met", "open", "excluded")
_MIN = np.timedelta64(60_000_000, "us")


def evaluate(con, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per defect matching the filters (opened_at in the date filter), oldest first."""
    as_of = normalise_as_of(as_of)
    where, params = filters.where()
    t = con.cursor().execute(
        "SELECT ticket_id, external_id, title, severity, status_category, opened_at, acknowledged_at, resolved_at, "
        "coalesce(trim(target_release), '') <> '' OR due_at IS NOT NULL AS scheduled "
        f"FROM tickets WHERE {where} AND type = 'defect' ORDER BY opened_at, ticket_id", params).df()
    now = np.datetime64(as_of, "us")
    opened = t["opened_at"].values.astype("datetime64[us]")
    res_raw = t["resolved_at"].values.astype("datetime64[us]")
    resolved = np.where(res_raw <= now, res_raw, np.datetime64("NaT", "us"))
    ack_raw = t["acknowledged_at"].values.astype("datetime64[us]")
    ack = np.where(np.isnat(ack_raw), resolved, np.where(ack_raw <= now, ack_raw, np.datetime64("NaT", "us")))
    sev = t["severity"].astype(object)
    by_sev = {x.severity: x for x in TARGETS}
    status = t["status_category"].astype(object)
    excluded = np.select(
        [t["opened_at"].isna(), opened > now, status == "cancelled", ~sev.isin(list(by_sev))],
        ["no opened_at", "opened after the as-of time", "cancelled", "no severity mapped"], default="")
    lost = status.isin(["resolved", "closed"]).values & np.isnat(res_raw)
    is_open = np.isnat(resolved) & ~lost & (excluded == "")
    ack_due = np.full(len(t), np.datetime64("NaT", "us"))
    fix_due = np.full(len(t), np.datetime64("NaT", "us"))
    for target in TARGETS:
        sel = (sev == target.severity).values & (excluded == "")
        if target.ack_minutes is not None:
            ack_due[sel] = opened[sel] + int(target.ack_minutes) * _MIN
        elif target.ack_same_business_day and sel.any():
            ack_due[sel] = _same_business_day(con, opened[sel])
        if target.fix_minutes is not None:
            fix_due[sel] = opened[sel] + int(target.fix_minutes) * _MIN
    schedule = sev.map({x.severity: x.schedule for x in TARGETS}).fillna(False).astype(bool).values
    out = pd.DataFrame({
        "ticket_id": t["ticket_id"], "external_id": t["external_id"], "title": t["title"], "severity": sev,
        "class": sev.map({x.severity: x.name for x in TARGETS}), "status_category": status,
        "opened_at": t["opened_at"], "acknowledged_at": t["acknowledged_at"], "resolved_at": t["resolved_at"],
        "ack_target": sev.map({x.severity: x.ack_target for x in TARGETS}),
        "ack_due_at": ack_due, "ack_met": _met(ack, ack_due, lost, now),
        "fix_target": sev.map({x.severity: x.fix_target for x in TARGETS}),
        "fix_due_at": fix_due, "fix_met": _met(resolved, fix_due, lost, now),
        "scheduled": t["scheduled"].astype(bool),
        "schedule_met": pd.array(np.where(schedule & is_open, t["scheduled"], None), dtype=object),
        # numpy's stubs leave None out of ArrayLike; np.where takes it as an object scalar.
        "open": is_open, "excluded": np.where(excluded == "", None, excluded),  # type: ignore[call-overload]
    }, columns=list(COLUMNS))
    for col in ("class", "ack_target", "fix_target", "excluded"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _met(done: np.ndarray, due: np.ndarray, lost: np.ndarray, now: np.datetime64) -> np.ndarray:
    """True / False where known; None when there is no target, it is not yet due or not measurable.
    An object array of Python bools and None, even when every value is known."""
    out = np.full(len(due), None, dtype=object)
    known = ~np.isnat(due) & ~np.isnat(done)
    out[known] = np.array((done[known] <= due[known]).tolist() + [None], dtype=object)[:-1]
    out[~np.isnat(due) & np.isnat(done) & ~lost & (now > due)] = False
    return out


def _same_business_day(con, opened: np.ndarray) -> np.ndarray:
    """Close of the business day each defect was opened on (see the module docstring)."""
    pols = saved_policies(con)
    tz_default = db.get_setting(con, "default_timezone", "UTC") or "UTC"
    ordered, idx = policy_index(pols, opened.astype("datetime64[D]"))
    out = np.full(len(opened), np.datetime64("NaT", "us"))
    for i in np.unique(idx):
        p = ordered[i]
        target = p.target("SEV-2", "response", "defect")
        cal = working_calendar(p, target.calendar if target else None, tz_default)
        sel = idx == i
        out[sel] = close_of_business(cal, opened[sel])
    return out


def summary(con, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per class: defects, open, met/missed counts and % (None without a denominator),
    scheduled % of open Medium/Low defects, open defects already past a target, exclusions."""
    ev = evaluate(con, filters, as_of)
    rows = []
    for target in TARGETS:
        cls = ev[ev["severity"] == target.severity]
        inc = cls[cls["excluded"].isna()]
        counts = {k: _counts(inc[f"{k}_met"]) for k in ("ack", "fix", "schedule")}
        breached = inc["open"] & ((inc["ack_met"] == False) | (inc["fix_met"] == False)  # noqa: E712
                                  | (inc["schedule_met"] == False))  # noqa: E712
        rows.append({
            "class": target.name, "severity": target.severity, "target": target.text, "defects": len(inc),
            "open": int(inc["open"].sum()),
            "ack_met": counts["ack"][0], "ack_missed": counts["ack"][1], "ack_met_pct": _pct(*counts["ack"]),
            "fix_met": counts["fix"][0], "fix_missed": counts["fix"][1], "fix_met_pct": _pct(*counts["fix"]),
            "scheduled_pct": _pct(*counts["schedule"]) if target.schedule else None,
            "breached_open": int(breached.sum()),
            "excluded": [(str(k), int(v)) for k, v in cls["excluded"].value_counts().sort_index().items()],
        })
    unmapped = int((ev["excluded"] == "no severity mapped").sum())
    if unmapped:
        rows.append({"class": "no severity", "severity": None, "target": "none: the class comes from severity",
                     "defects": 0, "open": 0, "ack_met": 0, "ack_missed": 0, "ack_met_pct": None, "fix_met": 0,
                     "fix_missed": 0, "fix_met_pct": None, "scheduled_pct": None, "breached_open": 0,
                     "excluded": [("no severity mapped", unmapped)]})
    out = pd.DataFrame(rows)
    for col in ("ack_met_pct", "fix_met_pct", "scheduled_pct"):  # None, not NaN, without a denominator
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _counts(col: pd.Series) -> tuple[int, int]:
    return int((col == True).sum()), int((col == False).sum())  # noqa: E712 (object column of True/False/None)


def _pct(met: int, missed: int) -> float | None:
    return 100.0 * met / (met + missed) if met + missed else None


def tag_split(con, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """Tickets per tag (bug = type defect, enhancement, question) opened by `as_of`: tickets,
    open, resolved (resolved or closed), cancelled, and open ones with a target release or due
    date. Open and resolved are read at the as-of time, as in `evaluate`: resolved once its
    resolution time has passed (or closed without one); cancelled by its status."""
    as_of = normalise_as_of(as_of)
    where, params = filters.where()
    done_sql = ("(status_category <> 'cancelled' AND (resolved_at <= $as_of OR (resolved_at IS NULL "
                "AND status_category IN ('resolved', 'closed'))))")
    open_sql = f"(status_category IS DISTINCT FROM 'cancelled' AND NOT coalesce({done_sql}, false))"
    got = con.cursor().execute(
        f"SELECT type, count(*) AS tickets, count(*) FILTER (WHERE {open_sql}) AS open, "
        f"count(*) FILTER (WHERE {done_sql}) AS resolved, "
        "count(*) FILTER (WHERE status_category = 'cancelled') AS cancelled, "
        f"count(*) FILTER (WHERE {open_sql} AND (coalesce(trim(target_release), '') <> '' "
        "OR due_at IS NOT NULL)) AS open_scheduled "
        f"FROM tickets WHERE {where} AND type IN ('defect', 'enhancement', 'question') AND opened_at <= $as_of "
        "GROUP BY 1", {**params, "as_of": as_of}).df()
    out = pd.DataFrame({"tag": list(TAGS.values())}).merge(
        got.assign(tag=got["type"].map(TAGS)).drop(columns="type"), on="tag", how="left")
    counts = ["tickets", "open", "resolved", "cancelled", "open_scheduled"]
    out[counts] = out[counts].fillna(0).astype(np.int64)
    return out
