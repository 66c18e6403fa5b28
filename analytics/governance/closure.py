"""The hypercare closure scorecard: five criteria, each pass / fail / at risk / not measurable.

`evaluate(con, as_of)` gives one row per criterion with the sentence that explains its status,
how many evidence rows stand behind it and its definition; `evidence(con, key, as_of)` is the
drill-down (the tickets or figures). Every rule is judged as of the chosen moment T: tickets
opened after T are ignored, and whether a ticket was open at T is the open backlog's one
definition (analytics.kpi.backlog: its status history, else its timestamps), not its current
status. The global filters' service, team, source, type, severity and status narrow the
tickets; their date range is not used (each rule has its own window ending at T, or at the end
of the data when that is earlier).
Rules and wording: analytics/governance/closure_rules.py; SLA and KPI criteria: analytics/governance/closure_metrics.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from analytics.governance import closure_metrics, signoff
from analytics.governance.closure_metrics import stamp
from analytics.governance.closure_rules import (
    AT_RISK,
    BY_KEY,
    CRITERIA,
    FAIL,
    NOT_MEASURABLE,
    PASS,
    ClosureRules,
    Outcome,
    definition,
    load_rules,
)
from analytics.kpi import backlog
from analytics.store.filters import Filters
from analytics.store.periods import normalise_as_of, undated

__all__ = ["COLUMNS", "evaluate", "evidence", "verdict", "READY", "NOT_YET", "AT_RISK_VERDICT", "cli_records"]
COLUMNS = ["key", "criterion", "status", "detail", "evidence_count", "definition"]

# Open at T (analytics.kpi.backlog), and resolved or closed without a time to read: relations
# registered on the cursor by _open_at.
_OPEN_SQL = "ticket_id IN (SELECT ticket_id FROM _open)"
_DONE_UNKNOWN_SQL = "ticket_id IN (SELECT ticket_id FROM _unknown)"
_TICKET_COLS = "ticket_id, title, type, severity, priority_raw, status, service, team, opened_at"


def _scoped(filters: Filters) -> tuple[str, dict]:
    """The tickets a criterion reads: the filters' (undated), opened by $at, of the $types."""
    clause, params = undated(filters).where()
    return (f"({clause}) AND opened_at <= $at AND (status_category IS DISTINCT FROM 'cancelled' OR {_OPEN_SQL}) "
            "AND list_contains($types::VARCHAR[], coalesce(type, 'incident'))"), params


def _open_at(con, at: datetime, filters: Filters):
    """A cursor with the relations _open (tickets open at `at`) and _unknown (resolved or closed
    without a time to read) registered."""
    open_ids, unknown = backlog.open_tickets(con, undated(filters), at)
    cur = con.cursor()
    cur.register("_open", pd.DataFrame({"ticket_id": sorted(open_ids)}, dtype=object))
    cur.register("_unknown", pd.DataFrame({"ticket_id": sorted(unknown)}, dtype=object))
    return cur


# --- 1. open critical / high defects ----------------------------------------------------


def _open_defects(con, at: datetime, filters: Filters, rules: ClosureRules, rows: bool = True) -> Outcome:
    scope_sql, params = _scoped(filters)
    query_sql = f"""WITH t AS (SELECT {_TICKET_COLS}, mitigated_at, resolved_at, closed_at,
            list_contains($severities::VARCHAR[], severity) AS blocking,
            CASE WHEN {_OPEN_SQL} THEN CASE WHEN mitigated_at <= $at THEN 'mitigated, not resolved' ELSE 'open' END
                 WHEN {_DONE_UNKNOWN_SQL} THEN 'resolved, time unknown'
                 ELSE 'resolved' END AS state
        FROM tickets WHERE {scope_sql})
    SELECT * FROM t"""
    cur = _open_at(con, at, filters)
    base = {**params, "severities": list(rules.blocking_severities), "at": at, "types": list(rules.blocking_types)}
    counts = cur.execute(
        f"SELECT state, blocking, severity IS NULL AS unmapped, count(*) FROM ({query_sql}) GROUP BY ALL",
        base).fetchall()
    ev = cur.execute(
        f"SELECT ticket_id, CASE WHEN blocking THEN state ELSE 'open, no severity mapped' END AS finding, "
        f"severity, type, title, status, opened_at, mitigated_at, resolved_at, service, team, "
        f"round(date_diff('minute', opened_at, $at) / 1440.0, 1) AS days_open_at_as_of FROM ({query_sql}) "
        "WHERE (blocking AND state IN ('open', 'mitigated, not resolved')) OR (severity IS NULL AND state = 'open') "
        "ORDER BY blocking DESC, state = 'open' DESC, severity, opened_at",
        base).df()

    def n(state=None, blocking=None, unmapped=None) -> int:
        return sum(c for s, b, u, c in counts if (state is None or s == state)
                   and (blocking is None or b == blocking) and (unmapped is None or u == unmapped))

    sev, types = "/".join(rules.blocking_severities), "/".join(rules.blocking_types)
    mapped, still_open = n(unmapped=False), n("open", True)
    mitigated, unmapped_open = n("mitigated, not resolved", True), n("open", unmapped=True)
    unknown = n("resolved, time unknown", True)
    when = f"as of {stamp(at)}"
    note = f" ({unknown:,} counted as resolved though the data has no resolution time)" if unknown else ""
    if mapped == 0:
        extra = f"; {unmapped_open:,} open ones have no mapped severity" if unmapped_open else ""
        return Outcome(NOT_MEASURABLE, f"No {types} ticket with a mapped severity was opened by {stamp(at)}, so "
                       f"there is nothing to check{extra}. Load an export, or map severities on the Upload page.", ev)
    if still_open:
        oldest = ev.loc[ev["finding"] == "open", "opened_at"].min()
        return Outcome(FAIL, f"{still_open:,} {sev} {types} ticket{'s' if still_open > 1 else ''} open {when} "
                       f"(oldest opened {oldest:%Y-%m-%d}){'; ' + str(mitigated) + ' more only mitigated' if mitigated else ''}.", ev)
    blocking_total = n(blocking=True)
    if mitigated or unmapped_open:
        why = [f"{mitigated:,} only mitigated, not yet resolved"] if mitigated else []
        why += [f"{unmapped_open:,} open {types} ticket{'s' if unmapped_open > 1 else ''} without a mapped "
                "severity (could be critical)"] if unmapped_open else []
        return Outcome(AT_RISK, f"No {sev} {types} ticket open {when}, but {' and '.join(why)}{note}.", ev)
    return Outcome(PASS, f"No {sev} {types} ticket open {when}; all {blocking_total:,} opened by then are "
                   f"resolved or mitigated{note}.", ev)


# --- 4. enhancements prioritised and scheduled ------------------------------------------


def _enhancements(con, at: datetime, filters: Filters, rules: ClosureRules, rows: bool = True) -> Outcome:
    scope_sql, params = _scoped(filters)
    base = {**params, "at": at, "types": list(rules.scheduled_types)}
    query_sql = f"""SELECT {_TICKET_COLS}, target_release, due_at,
            severity IS NOT NULL OR nullif(trim(priority_raw), '') IS NOT NULL AS has_priority,
            nullif(trim(target_release), '') IS NOT NULL OR due_at IS NOT NULL AS has_schedule,
            {_OPEN_SQL} AS is_open
        FROM tickets WHERE {scope_sql}"""
    cur = _open_at(con, at, filters)
    total, scheduled_any, still_open = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE has_schedule), count(*) FILTER (WHERE is_open) "
        f"FROM ({query_sql})", base).fetchall()[0]
    ev = cur.execute(
        f"""SELECT ticket_id, CASE
                WHEN NOT has_priority AND NOT has_schedule THEN 'no priority, not scheduled'
                WHEN NOT has_priority THEN 'no priority'
                WHEN NOT has_schedule THEN 'not scheduled'
                WHEN due_at < $at THEN 'overdue' ELSE 'scheduled' END AS finding,
            type, title, severity, priority_raw, target_release, due_at, status, opened_at, service, team
        FROM ({query_sql}) WHERE is_open
        ORDER BY has_priority AND has_schedule, coalesce(due_at < $at, false) DESC, due_at, opened_at""",
        base).df()
    types = "/".join(rules.scheduled_types)
    when = f"at {stamp(at)}"
    if total == 0:
        return Outcome(NOT_MEASURABLE, f"No {types} ticket was opened by {stamp(at)}: nothing to check "
                       "(is the ticket type mapped on the Upload page?).", ev)
    if still_open == 0:
        return Outcome(PASS, f"None of the {total:,} {types} tickets is open {when}.", ev)
    if scheduled_any == 0:
        return Outcome(NOT_MEASURABLE, f"{still_open:,} {types} tickets are open {when}, but no {types} ticket "
                       "carries a target release or due date: map one (sprint, fix version, due date) on the "
                       "Upload page.", ev)
    findings = ev["finding"].value_counts()
    unprioritised = int(findings.get("no priority", 0) + findings.get("no priority, not scheduled", 0))
    unscheduled = int(findings.get("not scheduled", 0) + findings.get("no priority, not scheduled", 0))
    overdue = int(findings.get("overdue", 0))
    if unprioritised or unscheduled:
        parts = [f"{unprioritised:,} without a priority"] if unprioritised else []
        parts += [f"{unscheduled:,} without a target release or due date"] if unscheduled else []
        return Outcome(FAIL, f"Of {still_open:,} {types} tickets open {when}, {' and '.join(parts)}.", ev)
    if overdue:
        return Outcome(AT_RISK, f"All {still_open:,} open {types} tickets are prioritised and scheduled, but "
                       f"{overdue:,} are past their due date {when}.", ev)
    return Outcome(PASS, f"All {still_open:,} {types} tickets open {when} are prioritised and scheduled; "
                   "none is overdue.", ev)


# --- 5. stakeholder sign-off ------------------------------------------------------------


def _signoff(con, at: datetime, _filters: Filters, rules: ClosureRules, rows: bool = True) -> Outcome:
    state = signoff.current(con, as_of=at)
    ev = state[state["role"].isin(rules.required_roles)].reset_index(drop=True)
    if ev.empty:
        return Outcome(NOT_MEASURABLE, "No sign-off role is required by the closure rules: nothing to check.", ev)
    signed = ev.loc[ev["state"] == signoff.SIGNED, "role"].tolist()
    revoked = ev.loc[ev["state"] == signoff.REVOKED, "role"].tolist()
    waiting = ev.loc[ev["state"] == signoff.NOT_SIGNED, "role"].tolist()
    tally = f"{len(signed)} of {len(ev)} required roles signed as of {stamp(at)}"
    if revoked:
        return Outcome(FAIL, f"{tally}; revoked: {', '.join(revoked)}"
                       f"{'; not signed: ' + ', '.join(waiting) if waiting else ''}.", ev)
    if not signed:
        return Outcome(FAIL, f"{tally}; not signed: {', '.join(waiting)}.", ev)
    if waiting:
        return Outcome(AT_RISK, f"{tally}; still to sign: {', '.join(waiting)}.", ev)
    return Outcome(PASS, f"{tally}: {', '.join(signed)}.", ev)


_CHECKS: dict[str, Callable[..., Outcome]] = {
    "open_defects": _open_defects, "sla": closure_metrics.sla, "kpis": closure_metrics.kpis,
    "enhancements": _enhancements, "signoff": _signoff,
}


def _outcome(con, key: str, as_of: datetime | None, filters: Filters, rules: ClosureRules | None,
             rows: bool = True) -> Outcome:
    if key not in BY_KEY:
        raise ValueError(f"unknown closure criterion '{key}' (known: {', '.join(BY_KEY)})")
    return _CHECKS[key](con, normalise_as_of(as_of), filters, rules or load_rules(con), rows)


def evaluate(con, as_of: datetime | None = None, filters: Filters = Filters(),
             rules: ClosureRules | None = None) -> pd.DataFrame:
    """The scorecard as of `as_of` (naive = UTC; None = now): one row per criterion (COLUMNS)."""
    rules = rules or load_rules(con)
    rows = []
    for c in CRITERIA:
        out = _outcome(con, c.key, as_of, filters, rules, rows=False)
        rows.append({"key": c.key, "criterion": c.name, "status": out.status, "detail": out.detail,
                     "evidence_count": out.evidence_count, "definition": definition(c.key, rules)})
    return pd.DataFrame(rows, columns=COLUMNS)


def evidence(con, key: str, as_of: datetime | None = None, filters: Filters = Filters(),
             rules: ClosureRules | None = None) -> pd.DataFrame:
    """The rows behind one criterion: tickets (open defects, enhancements), stopped SLA clocks,
    KPI figures per service, or the required roles' sign-off state."""
    rows = _outcome(con, key, as_of, filters, rules).evidence
    if rows is None:  # every check builds its rows when asked to (rows=True, the default)
        raise RuntimeError(f"closure criterion '{key}' returned no evidence rows")
    return rows.reset_index(drop=True)


def cli_records(con, as_of: datetime | None = None) -> list[dict]:
    """The scorecard for `python -m analytics closure`: plain JSON-ready objects."""
    at = normalise_as_of(as_of)
    frame = evaluate(con, at)
    return [{"criterion": r["criterion"], "key": r["key"], "status": r["status"], "detail": r["detail"],
             "evidence_count": int(r["evidence_count"]), "as_of": at.isoformat(timespec="seconds") + "Z",
             "definition": r["definition"]} for r in frame.to_dict("records")]


READY, NOT_YET, AT_RISK_VERDICT = "ready", "not yet", "at risk"
_SENTENCE_END = re.compile(r"(?<=[.)])\s+(?=[A-Z])")  # "…UTC. Availability…", not "80.3 %" or "e.g. a"


def first_sentence(detail: str) -> str:
    """A criterion's reason in one line (its first sentence, "…" when more follows), for the
    report's first page and the Governance page's table; the detail stays in full beside it."""
    parts = _SENTENCE_END.split(str(detail), maxsplit=1)
    return parts[0] + (" …" if len(parts) > 1 else "")


def verdict(card: pd.DataFrame) -> tuple[str, str]:
    """Ready to exit hypercare? (READY / NOT_YET / AT_RISK_VERDICT, why in one sentence) from a
    scorecard (`evaluate`): a failing or unmeasurable criterion means not yet, a criterion at
    risk means at risk, every criterion passing means ready."""
    def named(status: str) -> list[str]:
        return list(card.loc[card["status"] == status, "criterion"])

    total = len(card)
    failing, unknown, risky = named(FAIL), named(NOT_MEASURABLE), named(AT_RISK)
    if failing:
        return NOT_YET, f"{len(failing)} of {total} criteria fail: {', '.join(failing)}."
    if unknown:
        return NOT_YET, (f"{len(unknown)} of {total} criteria cannot be measured yet: {', '.join(unknown)}; "
                         "the others pass or are at risk.")
    if risky:
        return AT_RISK_VERDICT, f"No criterion fails, but {len(risky)} of {total} are at risk: {', '.join(risky)}."
    return READY, f"All {total} criteria pass."
