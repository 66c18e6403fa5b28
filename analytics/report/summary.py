"""The monthly report's first page: the decision — ready to exit hypercare?, and why.

Everything on it is read from the same core functions as the body (closure.verdict and the
scorecard, the KPI results, sign-offs, backlog, SLA counts, PIR reviews); it adds no number of
its own making. The page: the verdict and its reason, each closure criterion as a line, the KPIs
against their targets with their change and a small trend over the last months, the top risks,
and the sign-off state.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd

from analytics.charts.kpi import fmt
from analytics.governance import closure, pir, signoff
from analytics.kpi import backlog
from analytics.kpi import registry as reg
from analytics.kpi.facts import data_span, period_of
from analytics.kpi.kpis import KpiResult
from analytics.kpi.kpis import frame as kpi_frame
from analytics.report.model import Block, Section, Spark, Table, Text
from analytics.report.sections import change_words, month_start, status_label
from analytics.sla import compliance as comp
from analytics.store.filters import Filters
from analytics.store.periods import undated

TREND_MONTHS = 6  # the report's month and the five before it
RISK_TICKETS = 3  # open SEV-1/SEV-2 tickets named on the page (all are counted)
URGENT = ("SEV-1", "SEV-2")
VERDICT_MARK = {closure.READY: "✓", closure.NOT_YET: "✗", closure.AT_RISK_VERDICT: "!"}


def verdict_text(card: pd.DataFrame) -> tuple[str, str]:
    """("✗ Not yet", why) for the page's headline."""
    word, why = closure.verdict(card)
    return f"{VERDICT_MARK[word]} {word.capitalize()}", why


def criteria_table(card: pd.DataFrame) -> Table:
    """One line per closure criterion: status mark and word, name, its one-line reason."""
    view = pd.DataFrame({"status": [status_label(s) for s in card["status"]], "criterion": list(card["criterion"]),
                         "why": [closure.first_sentence(d) for d in card["detail"]]})
    data = card[["key", "criterion", "status", "detail"]].reset_index(drop=True)
    return Table("criteria", "Closure criteria", data, view=view, widths=(1.5, 2.6, 6.4))


# --- KPIs with their trend ----------------------------------------------------------------


def trend_months(month_start: date, months: int = TREND_MONTHS, data_from: datetime | None = None) -> list[date]:
    """The first day of the `months` months ending with `month_start`'s, oldest first; none
    before the month of the data's first event (`data_from`), so a young store draws no
    empty months."""
    first = pd.Timestamp(month_start).to_period("M") - (months - 1)
    if data_from is not None:
        first = min(max(first, pd.Timestamp(data_from).to_period("M")), pd.Timestamp(month_start).to_period("M"))
    return [(first + i).start_time.date() for i in range((pd.Timestamp(month_start).to_period("M") - first).n + 1)]


def kpi_history(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime,
                days: list[date]) -> pd.DataFrame:
    """Each KPI in each month of `days` (columns key, month, value), computed as the report's
    month is (same filters and as-of), so the last point is the month's figure."""
    span = filters.with_values(date_from=days[0])
    df = kpi_frame(con, span, period_of(con, span, as_of), grain="month", stats=False)
    df = df[df["bucket"].isin(days)]
    return pd.DataFrame({"key": df["key"].to_numpy(), "month": df["bucket"].to_numpy(),
                         "value": pd.to_numeric(df["value"], errors="coerce").to_numpy()})


def _span_label(months: list[date]) -> str:
    return f"{months[-1]:%b %Y}" if len(months) == 1 else f"{months[0]:%b} – {months[-1]:%b %Y}"


def kpi_table(results: dict[str, KpiResult], history: pd.DataFrame, months: list[date]) -> Table:
    """The KPIs against their targets: value, target, status, change against the previous month
    and a small trend line over `months` (the data pack gets the monthly values)."""
    by_key = {k: g.set_index("month")["value"] for k, g in history.groupby("key")}
    rows, view = [], []
    for k in reg.KPIS:
        series = by_key.get(k.key, pd.Series(dtype="float64"))
        values = tuple(None if pd.isna(series.get(m)) else float(series.get(m)) for m in months)
        r = results[k.key]
        target = "none set" if r.target is None else \
            f"{'≥' if k.direction == reg.HIGHER else '≤'} {fmt(r.target, r.unit)}"
        rows.append({"key": k.key, "kpi": k.name, "unit": r.unit, "value": r.value, "target": r.target,
                     "status": r.status, "n": r.n, "previous_month": r.previous, "change": r.change,
                     **{f"{m:%Y-%m}": v for m, v in zip(months, values)}})
        view.append({"KPI": k.name, "Value": fmt(r.value, r.unit), "Target": target,
                     "Status": status_label(r.status), "Change vs previous month": change_words(r),
                     _span_label(months): Spark(values, r.target)})
    return Table("kpis", "KPIs against their targets", pd.DataFrame(rows), view=pd.DataFrame(view),
                 widths=(2.3, 1.5, 1.5, 1.8, 2.3, 1.6))


# --- top risks ----------------------------------------------------------------------------


def _open_urgent(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> pd.DataFrame:
    """Open SEV-1/SEV-2 tickets at `as_of` (whenever opened, the report's other filters applied),
    oldest first."""
    open_ids, _ = backlog.open_tickets(con, undated(filters), as_of)
    if not open_ids:
        return pd.DataFrame(columns=["ticket_id", "shown_id", "severity", "title", "service", "opened_at"])
    cur = con.cursor()
    cur.register("_ids", pd.DataFrame({"ticket_id": sorted(open_ids)}, dtype=object))
    return cur.execute(
        "SELECT ticket_id, coalesce(external_id, ticket_id) AS shown_id, severity, title, service, opened_at FROM tickets SEMI JOIN _ids USING (ticket_id) "
        "WHERE list_contains($urgent::VARCHAR[], severity) ORDER BY opened_at, ticket_id",
        {"urgent": list(URGENT)}).df()


def _age(opened: object, as_of: datetime) -> str:
    return fmt((as_of - pd.Timestamp(opened).to_pydatetime()).total_seconds() / 3600, "hours")


def _urgent_row(tickets: pd.DataFrame, as_of: datetime) -> dict[str, object]:
    n = len(tickets)
    if not n:
        return {"risk": "Open SEV-1/SEV-2", "count": 0, "detail": f"none open at {as_of:%Y-%m-%d %H:%M} UTC"}
    named = [f"{r.shown_id} ({r.severity}, {r.service or 'no service'}, open {_age(r.opened_at, as_of)})"
             for r in tickets.head(RISK_TICKETS).itertuples()]
    more = f"; and {n - RISK_TICKETS:,} more" if n > RISK_TICKETS else ""
    return {"risk": "Open SEV-1/SEV-2", "count": n,
            "detail": f"{n:,} open at {as_of:%Y-%m-%d %H:%M} UTC, oldest first: {'; '.join(named)}{more}"}


def _worst_service_row(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> dict[str, object]:
    """The service with the most breached clocks (response and resolution) in the month."""
    counted = comp.counts(con, filters, period_of(con, filters, as_of), split="service")
    by = counted.groupby("grp")[["met", "breached"]].sum()
    by = by[by["breached"] > 0].sort_values(["breached", "met"], ascending=[False, True])
    if by.empty:
        return {"risk": "Worst breaching service", "count": 0, "detail": "no SLA clock breached in the month"}
    name, row = by.index[0], by.iloc[0]
    judged = int(row["met"] + row["breached"])
    return {"risk": "Worst breaching service", "count": int(row["breached"]),
            "detail": f"{name or 'no service'}: {int(row['breached']):,} of {judged:,} stopped SLA clocks "
                      f"breached ({100 * row['breached'] / judged:.0f} %)"
                      + (f"; next: {by.index[1] or 'no service'} ({int(by.iloc[1]['breached']):,})"
                         if len(by) > 1 else "")}


def _overdue_row(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> dict[str, object]:
    reviews = pir.reviews(con, filters, as_of)
    overdue = reviews[reviews["state"] == "overdue"].sort_values("days_overdue", ascending=False)
    if overdue.empty:
        return {"risk": "Overdue PIRs", "count": 0, "detail": "no post-incident review overdue"}
    top = overdue.iloc[0]
    return {"risk": "Overdue PIRs", "count": len(overdue),
            "detail": f"{len(overdue):,} reviews overdue; most overdue: {_shown(top)} "
                      f"({top['severity']}, {int(top['days_overdue']):,} d)"}


def _shown(row: pd.Series) -> str:
    ext = row.get("external_id")
    return str(ext) if isinstance(ext, str) and ext else str(row["ticket_id"])


def risks(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> pd.DataFrame:
    """The top risks (columns risk, count, detail): open SEV-1/SEV-2, the worst breaching
    service, overdue post-incident reviews."""
    rows = [_urgent_row(_open_urgent(con, filters, as_of), as_of), _worst_service_row(con, filters, as_of),
            _overdue_row(con, filters, as_of)]
    return pd.DataFrame(rows, columns=["risk", "count", "detail"])


def risk_view(table: pd.DataFrame) -> pd.DataFrame:
    """Each risk with a mark: "!" when there is one, "✓ none" when there is not."""
    return pd.DataFrame({"risk": list(table["risk"]),
                         "state": ["! present" if n else "✓ none" for n in table["count"]],
                         "detail": list(table["detail"])})


# --- sign-off -----------------------------------------------------------------------------


def signoff_text(sign: pd.DataFrame) -> str:
    """"Signed: Role (name, date). Missing: Role, Role. Revoked: Role (reason)." """
    def names(state: str) -> pd.DataFrame:
        return sign[sign["state"] == state]

    parts = []
    signed = names(signoff.SIGNED)
    if len(signed):
        parts.append("Signed: " + "; ".join(f"{r.role} ({r.name}, {r.signed_on})" for r in signed.itertuples()))
    missing = names(signoff.NOT_SIGNED)
    if len(missing):
        parts.append("Missing: " + ", ".join(missing["role"]))
    revoked = names(signoff.REVOKED)
    if len(revoked):
        parts.append("Revoked: " + "; ".join(f"{r.role} ({r.reason or 'no reason given'})"
                                              for r in revoked.itertuples()))
    return f"{len(signed)} of {len(sign)} roles signed. " + ". ".join(parts) + "."


# --- the page -----------------------------------------------------------------------------


def summary_section(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime,
                    results: dict[str, KpiResult], card: pd.DataFrame, no_change: str | None = None) -> Section:
    """The first page (see the module docstring). `results`: report.sections.month_on_month's,
    `no_change`: why they hold no change, if they do not."""
    headline, why = verdict_text(card)
    months = trend_months(month_start(filters), data_from=data_span(con, filters)[0])
    history = kpi_history(con, filters, as_of, months)
    sign = signoff.current(con, as_of)
    danger = risks(con, filters, as_of)
    blocks: tuple[Block, ...] = (
        Text(f"Ready to exit hypercare?  {headline}", "headline"),
        Text(why),
        Text(f"Sign-off: {signoff_text(sign)}"),
        criteria_table(card),
        Text("Each criterion's reason continues, with its evidence, in section 7 (Closure scorecard).", "note"),
        kpi_table(results, history, months),
        Text(f"Change: against the calendar month before{f' ({no_change})' if no_change else ''}. Trend ({_span_label(months)}): the KPI in each month, the "
             "dot the report's month, a gap where it was not measurable, the dashed line its target; the "
             "values are in the data pack.", "note"),
        Table("risks", "Top risks", danger, view=risk_view(danger), widths=(2.0, 1.2, 7.3)),
    )
    return Section("summary", "Summary: ready to exit hypercare?", blocks)
