"""Post-incident review (PIR) compliance: which tickets need a review, when it is due, whether it
was done on time, and how the review's action items are getting on.

The policy (seed 003) is declared once in `POLICY`; its `definition` is the text the UI shows.
Settings keys in `SETTINGS` override its numbers (Settings page / db.set_setting).

Decisions (docs/governance.md, "Post-incident reviews", repeats them):
- Cohort: tickets resolved by `as_of` (resolved_at ≤ as_of); with a date filter, those resolved
  within it (UTC days) — not opened within it, because a PIR falls due after resolution. The
  other filters apply as everywhere else.
- Required tickets that are still open at `as_of` are not in the cohort: their review is not due
  before they are resolved. They, cancelled tickets and tickets resolved without a resolution
  time are counted in `excluded` (those opened by the end of the period).
- Completion: the latest uploaded PIR register that names the ticket (by ticket_id or external
  id, case-insensitive) when it gives a completed date; otherwise the mapped column
  pir_completed_at. A completion dated after `as_of` does not count yet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from analytics.governance.pir_actions import action_frame
from analytics.sla.business_days import add_business_days, local_dates, policy_index, working_calendar
from analytics.sla.policy import policies as saved_policies
from analytics.store import db
from analytics.store.filters import Filters
from analytics.store.periods import normalise_as_of, undated

STATES = ("done on time", "done late", "overdue", "not yet due")
SOURCE_COLUMN = "ticket column pir_completed_at"
NO_COMPLETION_DATA = ("no PIR completion data: map a pir_completed_at column on the Upload page, or upload a "
                      "PIR register (ticket id, completed date, action items)")


@dataclass(frozen=True)
class PirPolicy:
    """Thresholds of the PIR policy. `calendar`: a calendar name of the SLA policy in force
    (None: the one named "business", else its first)."""

    sev1_due_business_days: int = 5
    sev2_min_hours: float = 4.0
    sev2_due_business_days: int = 10
    calendar: str | None = None

    @property
    def definition(self) -> str:
        return (
            "A post-incident review (PIR) is required for every SEV-1 ticket, for a SEV-2 ticket that "
            f"lasted more than {self.sev2_min_hours:g} h (exactly {self.sev2_min_hours:g} h does not), and "
            "for any ticket the data marks pir_required = true (the column can add a review, never waive "
            "one). SEV-3 reviews are optional and SEV-4 needs none; cancelled tickets never need one. "
            "Duration runs from impact start (opened_at when impact start is missing) to resolution "
            "(resolved_at; mitigation is not used, it is often not recorded). "
            f"Due {self.sev1_due_business_days} business days (SEV-1) or {self.sev2_due_business_days} "
            "business days (every other required ticket) after the local day of resolution: the day "
            "itself never counts, weekends and holidays are stepped over, on the working-hours "
            "calendar of the SLA policy in force on the resolution day. "
            "Done on time: completed on or before the due day; done late: after it; overdue: not "
            "completed and the as-of day is past the due day; not yet due: otherwise. "
            "Coverage = completed ÷ required. On-time = done on time ÷ reviews whose outcome is "
            "known (completed, or overdue); reviews not yet due are left out of it. "
            "Completion comes from the latest uploaded PIR register naming the ticket, else from "
            "the ticket's pir_completed_at column."
        )

    def due_days(self, severity: pd.Series) -> np.ndarray:
        return np.where(severity.astype(object) == "SEV-1", self.sev1_due_business_days,
                        self.sev2_due_business_days)


POLICY = PirPolicy()
# settings key -> (PirPolicy field, type). Absent or empty keys keep the declared default.
SETTINGS: dict[str, tuple[str, type]] = {
    "pir_sev1_due_business_days": ("sev1_due_business_days", int),
    "pir_sev2_min_hours": ("sev2_min_hours", float),
    "pir_sev2_due_business_days": ("sev2_due_business_days", int),
    "pir_calendar": ("calendar", str),
}

COLUMNS = ("ticket_id", "external_id", "severity", "title", "resolved_at", "duration_hours",
           "required_because", "due_on", "completed_on", "completion_source", "state", "days_overdue",
           "pir_url", "policy_version", "calendar")

_CANDIDATES_SQL = """
SELECT ticket_id, external_id, severity, title, status_category, opened_at, resolved_at,
       date_diff('second', coalesce(impact_started_at, opened_at), least(coalesce(resolved_at, $as_of), $as_of)) / 3600.0
           AS duration_hours,
       coalesce(pir_required, false) AS pir_required, pir_completed_at, pir_url
FROM tickets
WHERE {where} AND (severity IN ('SEV-1', 'SEV-2') OR pir_required) AND opened_at <= $end
"""

_REGISTER_SQL = """
WITH k AS (
    SELECT ticket_id, upper(ticket_id) AS key FROM _pir_c
    UNION SELECT ticket_id, upper(external_id) FROM _pir_c WHERE external_id IS NOT NULL
), m AS (
    SELECT k.ticket_id, r.register_id, r.completed_on
    FROM pir_reviews r JOIN k ON upper(trim(r.ticket_ref)) = k.key
), latest AS (SELECT ticket_id, max(register_id) AS register_id FROM m GROUP BY 1)
SELECT m.ticket_id, m.register_id, max(m.completed_on) AS reg_completed_on, any_value(g.file_name) AS reg_file
FROM m JOIN latest USING (ticket_id, register_id) JOIN pir_registers g USING (register_id)
GROUP BY 1, 2
"""


def policy(con) -> PirPolicy:
    """POLICY with the overrides saved in settings; a bad value raises ValueError naming its key."""
    changes = {}
    for key, (name, kind) in SETTINGS.items():
        raw = (db.get_setting(con, key) or "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"setting {key} = {raw!r} is not a {kind.__name__}") from None
        if kind is not str and not value > 0:
            raise ValueError(f"setting {key} = {raw!r} must be above 0")
        changes[name] = value
    return replace(POLICY, **changes)


def period_bounds(filters: Filters, as_of: datetime) -> tuple[datetime | None, datetime]:
    """(start, end) of the resolution window: the date filter's UTC days, capped at as_of."""
    start = datetime.combine(filters.date_from, time.min) if filters.date_from else None
    end = datetime.combine(filters.date_to + timedelta(days=1), time.min) if filters.date_to else as_of
    return start, min(end, as_of)


def _candidates(con, filters: Filters, as_of: datetime, pol: PirPolicy) -> pd.DataFrame:
    """Tickets the policy or the column could require, opened by the end of the period, with
    the reason each one is (or is not) in the cohort."""
    start, end = period_bounds(filters, as_of)
    where, params = undated(filters).where()
    t = con.cursor().execute(_CANDIDATES_SQL.format(where=where), {**params, "as_of": as_of, "end": end}).df()
    sev = t["severity"].astype(object)
    by_policy = (sev == "SEV-1") | ((sev == "SEV-2") & (t["duration_hours"] > pol.sev2_min_hours))
    t["by_policy"] = by_policy
    t["by_column"] = t["pir_required"].astype(bool)
    resolved = t["resolved_at"].notna() & (t["resolved_at"] <= as_of)
    in_range = resolved & (t["resolved_at"] < end if filters.date_to else True)
    if start is not None:
        in_range &= t["resolved_at"] >= start
    t["why_out"] = np.select(
        [~(by_policy | t["by_column"]), t["status_category"] == "cancelled",
         t["status_category"].isin(["resolved", "closed"]) & t["resolved_at"].isna(), ~resolved, ~in_range],
        ["not required", "cancelled tickets",
         "resolved or closed without a resolution time (due day unknown)",
         "still open at the as-of time (a PIR falls due after resolution)", "resolved outside the period"],
        default="")
    return t


def reviews(con, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per ticket requiring a PIR that was resolved by `as_of` (see COLUMNS and the
    module docstring), most overdue first."""
    as_of = normalise_as_of(as_of)
    pol = policy(con)
    t = _candidates(con, filters, as_of, pol)
    t = t[t["why_out"] == ""].reset_index(drop=True)
    return _judge(con, t, pol, as_of)


def _judge(con, t: pd.DataFrame, pol: PirPolicy, as_of: datetime) -> pd.DataFrame:
    n = len(t)
    reasons = [np.where(t["by_policy"] & (t["severity"].astype(object) == "SEV-1"), "SEV-1", ""),
               np.where(t["by_policy"] & (t["severity"].astype(object) == "SEV-2"),
                        f"SEV-2 lasting more than {pol.sev2_min_hours:g} h", ""),
               np.where(t["by_column"], "marked pir_required in the data", "")]
    t["required_because"] = ["; ".join(p for p in parts if p) for parts in zip(*reasons)] if n else []
    pols = saved_policies(con)
    ordered, idx = policy_index(pols, t["resolved_at"].values.astype("datetime64[D]"))
    due = np.full(n, np.datetime64("NaT", "D"))
    done_col = np.full(n, np.datetime64("NaT", "D"))
    today = np.full(n, np.datetime64("NaT", "D"))
    version = np.empty(n, dtype=object)
    calendar = np.empty(n, dtype=object)
    tz_default = db.get_setting(con, "default_timezone", "UTC") or "UTC"
    for i in np.unique(idx) if n else []:
        sel = np.flatnonzero(idx == i)
        cal = working_calendar(ordered[i], pol.calendar, tz_default)
        res_day = local_dates(t["resolved_at"].values[sel], cal.timezone)
        due[sel] = add_business_days(cal, res_day, pol.due_days(t["severity"].iloc[sel]))
        done_col[sel] = local_dates(t["pir_completed_at"].values[sel], cal.timezone)
        today[sel] = local_dates([as_of], cal.timezone)[0]
        version[sel], calendar[sel] = ordered[i].version, f"{cal.name} ({cal.timezone})"
    reg = _register_completions(con, t[["ticket_id", "external_id"]])
    t = t.merge(reg, on="ticket_id", how="left") if n else t.assign(reg_completed_on=None, reg_file=None)
    reg_day = pd.to_datetime(t["reg_completed_on"]).values.astype("datetime64[D]")
    use_reg = ~np.isnat(reg_day) & (reg_day <= today)
    use_col = ~use_reg & ~np.isnat(done_col) & (done_col <= today)
    done = np.where(use_reg, reg_day, np.where(use_col, done_col, np.datetime64("NaT", "D")))
    # numpy's stubs leave None out of ArrayLike; np.where takes it as an object scalar.
    source = np.where(use_reg, "register " + t["reg_file"].fillna("").astype(str),
                      np.where(use_col, SOURCE_COLUMN, None))  # type: ignore[call-overload]
    has_done = ~np.isnat(done)
    late_by = (done - due).astype("timedelta64[D]").astype("float64")
    over_by = (today - due).astype("timedelta64[D]").astype("float64")
    state = np.where(has_done, np.where(done <= due, STATES[0], STATES[1]),
                     np.where(today > due, STATES[2], STATES[3]))
    days_over = np.where(has_done, np.maximum(np.nan_to_num(late_by), 0), np.maximum(np.nan_to_num(over_by), 0))
    out = pd.DataFrame({
        "ticket_id": t["ticket_id"], "external_id": t["external_id"], "severity": t["severity"].astype(object),
        "title": t["title"], "resolved_at": t["resolved_at"], "duration_hours": t["duration_hours"],
        "required_because": t["required_because"], "due_on": _dates(due), "completed_on": _dates(done),
        "completion_source": source, "state": state, "days_overdue": days_over.astype(np.int64),
        "pir_url": t["pir_url"], "policy_version": version, "calendar": calendar,
    }, columns=list(COLUMNS))
    for col in ("completion_source", "pir_url"):  # None, not NaN, where there is nothing
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    rank = out["state"].map({s: i for i, s in enumerate((STATES[2], STATES[3], STATES[1], STATES[0]))})
    order = np.lexsort((out["ticket_id"].astype(str).values, -out["days_overdue"].values, rank.values))
    return out.iloc[order].reset_index(drop=True)


def _dates(values: np.ndarray) -> list[date | None]:
    return np.asarray(values, dtype="datetime64[D]").astype(object).tolist()  # NaT → None, else date


def _register_completions(con, keys: pd.DataFrame) -> pd.DataFrame:
    """Per ticket: the latest register naming it, its completed date (or NaT) and file name."""
    cur = con.cursor()
    if keys.empty or not cur.execute("SELECT EXISTS (SELECT 1 FROM pir_reviews)").fetchall()[0][0]:
        return pd.DataFrame({"ticket_id": pd.Series(dtype=object), "reg_completed_on": pd.Series(dtype="datetime64[us]"),
                             "reg_file": pd.Series(dtype=object)})
    cur.register("_pir_c", keys)
    try:
        return cur.execute(_REGISTER_SQL).df()[["ticket_id", "reg_completed_on", "reg_file"]]
    finally:
        cur.unregister("_pir_c")


def actions(con, filters: Filters, as_of: datetime | None = None) -> pd.DataFrame:
    """Action items of the latest register naming each filtered ticket (see pir_actions)."""
    return action_frame(con, filters, normalise_as_of(as_of), policy(con))


def summary(con, filters: Filters, as_of: datetime | None = None) -> dict:
    """Headline PIR figures for the filters at `as_of`. Percentages are None without a denominator,
    and coverage / on-time also when the store has no completion data at all (the reason is in
    not_measurable_reason, with how to fix it)."""
    as_of = normalise_as_of(as_of)
    pol = policy(con)
    cand = _candidates(con, filters, as_of, pol)
    rows = _judge(con, cand[cand["why_out"] == ""].reset_index(drop=True), pol, as_of)
    counts = rows["state"].value_counts()
    on_time, late, overdue, not_due = (int(counts.get(s, 0)) for s in STATES)
    completed = on_time + late
    acts = actions(con, filters, as_of)
    open_age = acts.loc[acts["state"] != "closed", "age_days"].dropna()
    closed = int((acts["state"] == "closed").sum())
    excluded = [(label, int(n)) for label, n in cand.loc[~cand["why_out"].isin(
        ["", "not required", "resolved outside the period"]), "why_out"].value_counts().sort_index().items()]
    unknown = unknown_register_refs(con)
    if unknown:
        excluded.append(("PIR register entries naming no ticket in the store", unknown))
    # Without any completion data in the store, 0 % would blame the team for a missing column.
    reason = None if has_completion_data(con) else NO_COMPLETION_DATA
    return {
        "required": len(rows), "completed": completed, "done_on_time": on_time, "done_late": late,
        "coverage_pct": None if reason else _pct(completed, len(rows)),
        "on_time_pct": None if reason else _pct(on_time, completed + overdue), "not_measurable_reason": reason,
        "overdue": overdue, "not_yet_due": not_due,
        "required_by_column_only": int((rows["required_because"] == "marked pir_required in the data").sum()),
        "completed_from_register": int(rows["completion_source"].astype(str).str.startswith("register ").sum()),
        "completed_from_column": int((rows["completion_source"] == SOURCE_COLUMN).sum()),
        "actions_total": len(acts), "actions_closed": closed, "action_closure_pct": _pct(closed, len(acts)),
        "actions_overdue": int((acts["state"] == "overdue").sum()),
        "open_action_median_age_days": float(open_age.median()) if len(open_age) else None,
        "oldest_open_action_days": int(open_age.max()) if len(open_age) else None,
        "definition": pol.definition, "excluded": excluded,
    }


def has_completion_data(con) -> bool:
    """Whether the store holds any PIR completion at all: an uploaded register or a ticket with
    pir_completed_at (store-wide: a mapping either has the column or not)."""
    return bool(con.cursor().execute(
        "SELECT EXISTS (SELECT 1 FROM pir_registers) OR EXISTS (SELECT 1 FROM tickets WHERE pir_completed_at "
        "IS NOT NULL)").fetchall()[0][0])


def unknown_register_refs(con) -> int:
    """Distinct ticket references in uploaded registers that match no ticket in the store."""
    return int(con.cursor().execute(
        "SELECT count(DISTINCT upper(trim(r.ticket_ref))) FROM pir_reviews r WHERE NOT EXISTS "
        "(SELECT 1 FROM tickets t WHERE upper(t.ticket_id) = upper(trim(r.ticket_ref))) AND NOT EXISTS "
        "(SELECT 1 FROM tickets t WHERE upper(t.external_id) = upper(trim(r.ticket_ref)))").fetchall()[0][0])


def _pct(num: int, den: int) -> float | None:
    return 100.0 * num / den if den else None
