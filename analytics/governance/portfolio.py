"""The engagements side by side on the same definitions: one row per engagement."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, time, timedelta

import duckdb
import pandas as pd

from analytics.governance import closure, signoff
from analytics.governance.closure_rules import PASS, load_rules
from analytics.kpi import facts, kpis, registry
from analytics.store import engagements
from analytics.store.engagements import Engagement
from analytics.store.filters import Filters
from analytics.store.periods import normalise_as_of

COLUMNS = ["slug", "name", "is_demo", "go_live", "days_since_go_live", "data_from", "data_to", "tickets",
           "open_sev12", "resolution_sla_pct", "resolution_sla_n", "mttr_median_h", "mttr_n",
           "criteria_passing", "criteria_total", "signoffs_signed", "signoffs_required", "as_of"]
# What each column means, shown under the table (in its order); KPIs by their registry names.
DEFINITIONS: dict[str, str] = {
    "tickets": "tickets stored in the engagement",
    "open_sev12": "SEV-1 and SEV-2 tickets open at the governance as-of",
    "resolution_sla_pct": "resolution SLA compliance over the data's span: clocks that stopped in it, met "
                          f"/ stopped (the Overview's “{registry.get('resolution_sla').name}” KPI); n beside it",
    "mttr_median_h": f"median time to resolve over the data's span (the median of the Overview's "
                     f"“{registry.get('mttr').name}” KPI); n beside it",
    "criteria_passing": "closure criteria passing at the governance as-of, of all criteria",
    "signoffs": "required sign-off roles signed at the governance as-of",
    "go_live": "the engagement's go-live date (its settings)",
    "days_since_go_live": "whole days from go-live to today",
    "as_of": "the governance as-of: the end of the hypercare window or the last event, whichever is earlier",
    "data_from / data_to": "the first and last event in its data (opened, acknowledged, resolved, closed, "
                           "any status change)",
}


def governance_as_of(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> datetime:
    """Governance's default as-of: the end of the hypercare window or the last event, whichever is
    earlier; the last event without a go-live; now without data."""
    _, last = facts.data_span(con, Filters())
    return _as_of(engagements.details(None, con), last, normalise_as_of(now))


def _as_of(d: engagements.Details, last: datetime | None, now: datetime) -> datetime:
    window_end = None if d.window_end is None else datetime.combine(d.window_end, time.min)
    candidates = [t for t in (window_end, last) if t is not None]
    return min(min(candidates), now) if candidates else now


def row(e: Engagement, con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> dict:
    """The portfolio row of one engagement, computed on its own store `con` at `now` (default:
    the clock)."""
    now = normalise_as_of(now)
    today = now.date()
    d = engagements.details(e, con)
    first, last = facts.data_span(con, Filters())
    as_of = _as_of(d, last, now)
    n = con.cursor().execute("SELECT count(*) FROM tickets").fetchall()[0][0]
    open_hi = con.cursor().execute(
        "SELECT count(*) FROM tickets WHERE severity IN ('SEV-1', 'SEV-2') AND opened_at <= $as_of "
        "AND (resolved_at IS NULL OR resolved_at > $as_of) AND coalesce(status_category, '') <> 'cancelled'",
        {"as_of": as_of}).fetchall()[0][0]
    found = kpis.results(con, Filters(), last + timedelta(seconds=1) if last else None,
                         keys=("resolution_sla", "mttr"), previous=False) if n else {}
    sla, mttr = found.get("resolution_sla"), found.get("mttr")
    scorecard = closure.evaluate(con, as_of)
    required = load_rules(con).required_roles
    state = signoff.current(con, as_of=as_of)
    signed = int(((state["role"].isin(required)) & (state["state"] == signoff.SIGNED)).sum())
    return {
        "slug": e.slug, "name": e.name, "is_demo": e.is_demo, "go_live": d.go_live,
        "days_since_go_live": (today - d.go_live).days if d.go_live else None,
        "data_from": first.date() if first else None, "data_to": last.date() if last else None,
        "tickets": int(n), "open_sev12": int(open_hi),
        "resolution_sla_pct": sla.value if sla else None, "resolution_sla_n": sla.n if sla else 0,
        "mttr_median_h": mttr.stats.get("median") if mttr else None,
        "mttr_n": mttr.n if mttr else 0,
        "criteria_passing": int((scorecard["status"] == PASS).sum()), "criteria_total": len(scorecard),
        "signoffs_signed": signed, "signoffs_required": len(required), "as_of": as_of,
    }


def table(found: Iterable[Engagement],
          open_store: Callable[[Engagement], AbstractContextManager[duckdb.DuckDBPyConnection]],
          now: datetime | None = None) -> pd.DataFrame:
    """One row per engagement; `open_store(e)` is a context manager yielding its store connection."""
    rows = []
    for e in found:
        with open_store(e) as con:
            rows.append(row(e, con, now))
    return pd.DataFrame(rows, columns=COLUMNS)


def frame(rows: Iterable[dict]) -> pd.DataFrame:
    """The table of rows made by `row`."""
    return pd.DataFrame(list(rows), columns=COLUMNS)


def depends_on_now(r: dict, now: datetime) -> bool:
    """True when row `r`, computed at `now`, would change within the day: its as-of is the clock
    (the window and the data reach past it), not the window's end or the last event."""
    return r["as_of"] >= normalise_as_of(now)
