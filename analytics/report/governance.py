"""The monthly report's governance sections: PIR compliance, defect triage, closure and sign-offs.

Each section reads its own core module (analytics/governance/pir.py, defect_triage.py, closure.py,
signoff.py) and adds no numbers of its own making.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from analytics.governance import closure, defect_triage, pir, signoff
from analytics.report.model import Block, Section, Table, Text
from analytics.report.sections import status_label
from analytics.store.filters import Filters

OVERDUE_ROWS = 25  # overdue reviews listed in the PDF (all of them are in the data pack)


def _num(value, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value:,}{unit}"


# --- PIR compliance ---------------------------------------------------------------------


def pir_rows(s: dict) -> pd.DataFrame:
    """The PIR summary dict as (measure, value) rows, raw values (the data pack's table)."""
    keys = ("required", "completed", "done_on_time", "done_late", "coverage_pct", "on_time_pct", "overdue",
            "not_yet_due", "required_by_column_only", "completed_from_register", "completed_from_column",
            "actions_total", "actions_closed", "action_closure_pct", "actions_overdue",
            "open_action_median_age_days", "oldest_open_action_days")
    rows = [(k, s.get(k)) for k in keys if k in s]
    rows += [(f"excluded: {label}", n) for label, n in s.get("excluded", [])]
    return pd.DataFrame(rows, columns=["measure", "value"])


def pir_view(s: dict) -> pd.DataFrame:
    rows = [
        ("Reviews required", _num(s.get("required"))),
        ("Completed (coverage)", f"{_num(s.get('completed'))} ({_num(s.get('coverage_pct'), ' %')})"),
        ("Done on time / done late", f"{_num(s.get('done_on_time'))} / {_num(s.get('done_late'))}"),
        ("On time (of reviews with a known outcome)", _num(s.get("on_time_pct"), " %")),
        ("Overdue / not yet due", f"{_num(s.get('overdue'))} / {_num(s.get('not_yet_due'))}"),
        ("Action items closed", f"{_num(s.get('actions_closed'))} of {_num(s.get('actions_total'))} "
                                f"({_num(s.get('action_closure_pct'), ' %')})"),
        ("Action items overdue", _num(s.get("actions_overdue"))),
        ("Open action items: median age / oldest", f"{_num(s.get('open_action_median_age_days'), ' d')} / "
                                                   f"{_num(s.get('oldest_open_action_days'), ' d')}"),
    ]
    rows += [(f"Excluded: {label}", _num(n)) for label, n in s.get("excluded", [])]
    return pd.DataFrame(rows, columns=["measure", "value"])


def _overdue_view(overdue: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "ticket": list(overdue["ticket_id"]), "severity": list(overdue["severity"]),
        "title": ["" if pd.isna(t) else str(t) for t in overdue["title"]],
        "resolved (UTC)": [f"{pd.Timestamp(t):%Y-%m-%d %H:%M}" for t in overdue["resolved_at"]],
        "due": [str(d) for d in overdue["due_on"]],
        "days overdue": [f"{int(d):,}" for d in overdue["days_overdue"]],
        "required because": list(overdue["required_because"])})


def pir_section(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> Section:
    key, title = "pir", "PIR compliance"
    s = pir.summary(con, filters, as_of)
    reviews = pir.reviews(con, filters, as_of)
    overdue = reviews[reviews["state"] == "overdue"]
    blocks: list[Block] = [
        Text("Tickets resolved in the month that require a post-incident review, judged as of "
             f"{as_of:%Y-%m-%d %H:%M} UTC."),
        Text(s.get("definition", ""), "note"),
        Table("summary", "PIR compliance", pir_rows(s), view=pir_view(s), widths=(3, 2)),
        Table("overdue", f"Overdue reviews ({len(overdue):,}"
              + (f"; the {OVERDUE_ROWS} most overdue shown" if len(overdue) > OVERDUE_ROWS else "") + ")",
              overdue, view=_overdue_view(overdue.head(OVERDUE_ROWS)), widths=(1.6, 1, 3.4, 1.7, 1.2, 1, 2)),
        Table("reviews", "Every required review", reviews, pdf=False),
        Table("actions", "PIR action items", pir.actions(con, filters, as_of), pdf=False),
    ]
    return Section(key, title, tuple(blocks))


# --- defect triage ----------------------------------------------------------------------


def _met_text(met, missed, pct) -> str:
    if met is None or pd.isna(met) or int(met) + int(missed) == 0:
        return "–"
    return f"{int(met):,} of {int(met) + int(missed):,} ({_num(pct, ' %')})"


def defect_view(table: pd.DataFrame) -> pd.DataFrame:
    """The triage summary as people read it: met counts with their %, exclusions in words."""
    def excluded(items) -> str:
        return "; ".join(f"{n:,} {label}" for label, n in (items or [])) or "none"

    return pd.DataFrame({
        "class": [f"{c} ({s})" if s else str(c) for c, s in zip(table["class"], table["severity"])],
        "defects": [f"{int(n):,}" for n in table["defects"]], "open": [f"{int(n):,}" for n in table["open"]],
        "acknowledged in time": [_met_text(m, x, p) for m, x, p in
                                 zip(table["ack_met"], table["ack_missed"], table["ack_met_pct"])],
        "fixed in time": [_met_text(m, x, p) for m, x, p in
                          zip(table["fix_met"], table["fix_missed"], table["fix_met_pct"])],
        "open scheduled": [_num(p, " %") for p in table["scheduled_pct"]],
        "open past target": [f"{int(n):,}" for n in table["breached_open"]],
        "excluded": [excluded(x) for x in table["excluded"]]})


def _excluded_text(items) -> str:
    return "; ".join(f"{n} {label}" for label, n in (items or []))


def defect_section(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> Section:
    key, title = "defects", "Defect triage"
    table = defect_triage.summary(con, filters, as_of)
    data = table.assign(excluded=table["excluded"].map(_excluded_text))
    targets = pd.DataFrame({"class": list(table["class"]), "target": list(table["target"])})
    blocks: list[Block] = [
        Text(f"Defects (tickets typed defect) opened in the month, judged as of {as_of:%Y-%m-%d %H:%M} UTC "
             "against the triage targets below."),
        Text(defect_triage.DEFINITION, "note"),
        Table("targets", "Triage targets", targets, widths=(1, 4)),
        Table("summary", "Defect triage per class", data, view=defect_view(table),
              widths=(1.6, 0.9, 0.8, 1.9, 1.9, 1.1, 1.0, 2.2)),
    ]
    split = defect_triage.tag_split(con, filters, as_of)
    blocks.append(Table("tags", "Tickets per tag (bug, enhancement, question)", split,
                        view=split.set_axis(["tag", "tickets", "open", "resolved or closed", "cancelled",
                                             "open with a target release or due date"], axis=1)))
    return Section(key, title, tuple(blocks))


# --- closure scorecard and sign-offs ------------------------------------------------------


def _closure_view(card: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"criterion": list(card["criterion"]), "status": [status_label(s) for s in card["status"]],
                         "detail": list(card["detail"]),
                         "evidence": [f"{int(n):,}" if pd.notna(n) else "–" for n in card["evidence_count"]]})


SIGNOFF_SYMBOL = {"signed": "✓ signed", "revoked": "✗ revoked", "not signed": "– not signed"}


def _signoff_view(sign: pd.DataFrame) -> pd.DataFrame:
    def text(v) -> str:
        return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    return pd.DataFrame({
        "role": list(sign["role"]), "state": [SIGNOFF_SYMBOL.get(s, s) for s in sign["state"]],
        "name": [text(v) for v in sign.get("name", [])], "signed on": [text(v) for v in sign.get("signed_on", [])],
        "comment or reason": [text(r) or text(c) for c, r in zip(sign.get("comment", []), sign.get("reason", []))]})


def closure_section(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime,
                    card: pd.DataFrame | None = None) -> Section:
    """The scorecard in full (`card`: closure.evaluate's, when already computed) and the sign-offs."""
    key, title = "closure", "Closure scorecard and sign-offs"
    card = closure.evaluate(con, as_of, filters) if card is None else card
    counts = card["status"].value_counts()
    blocks: list[Block] = [
        Text(f"Hypercare exit criteria evaluated as of {as_of:%Y-%m-%d %H:%M} UTC: "
             + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("pass", "fail", "at risk", "not measurable"))
             + "."),
        Table("scorecard", "Closure criteria", card, view=_closure_view(card), widths=(2.4, 1.6, 5, 1)),
    ]
    blocks += [Text(f"{c}: {d}", "note") for c, d in zip(card["criterion"], card["definition"])]
    sign = signoff.current(con, as_of)
    blocks.append(Table("signoffs", f"Sign-offs as of {as_of:%Y-%m-%d %H:%M} UTC", sign,
                        view=_signoff_view(sign), widths=(1.8, 1.5, 1.8, 1.3, 3.6)))
    return Section(key, title, tuple(blocks))
