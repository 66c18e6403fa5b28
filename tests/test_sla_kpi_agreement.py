"""SLA compliance is one figure everywhere: the KPI cards (`kpis`), the SLA page's table, the CLI
`sla --summary`, the closure criterion and the monthly report show the same n, % and open-and-
breached count for the same filters and as-of time — the clocks that stopped in the period,
whenever their ticket was opened — and that figure is the engine's rows counted in pandas."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from analytics.cli import main
from analytics.governance import closure_metrics
from analytics.governance.closure_rules import ClosureRules
from analytics.kpi import kpis
from analytics.kpi.facts import period_of
from analytics.report.sections import sla_section
from analytics.sla import cache, compliance
from analytics.sla.engine import evaluate
from analytics.store.filters import Filters

SEPTEMBER = (datetime(2026, 9, 1), datetime(2026, 10, 1))


@pytest.fixture(scope="module")
def demo(demo_file):
    from analytics.store import db

    con = db.connect(demo_file)
    yield con
    con.close()


def reference(con, filters: Filters, as_of: datetime) -> dict[str, tuple[int, int, int]]:
    """(met, met + breached, open and breached) per clock, from the engine's rows of every
    filtered ticket: stopped in September (whenever opened); open and past target at its end."""
    start, end = SEPTEMBER
    te = min(end, as_of)
    ev = evaluate(con, as_of=as_of)
    t = con.execute("SELECT ticket_id, team FROM tickets").df()
    ev = ev.merge(t, on="ticket_id")
    if filters.severity:
        ev = ev[ev["severity"].astype(str).isin(filters.severity)]
    if filters.team:
        ev = ev[ev["team"].isin(filters.team)]
    out = {}
    for m in ("response", "resolution"):
        st, stop, breach = ev[f"{m}_status"].astype(str), ev[f"{m}_stopped_at"], ev[f"{m}_breach_at"]
        cohort = st.isin(["met", "breached"]) & (stop >= start) & (stop < end)
        open_breached = st.isin(["breached", "running"]) & (stop.isna() | (stop >= te)) & (breach < te)
        out[m] = (int((cohort & (st == "met")).sum()), int(cohort.sum()), int(open_breached.sum()))
    return out


@pytest.mark.parametrize("as_of", [datetime(2026, 10, 1), datetime(2026, 11, 1), datetime(2026, 11, 23)])
@pytest.mark.parametrize("filters", [Filters(), Filters(severity=("SEV-2", "SEV-3")), Filters(team=("Service Desk",))],
                         ids=["all", "sev23", "desk"])
def test_every_consumer_shows_the_one_cohort(demo, demo_file, capsys, as_of, filters):
    cache.clear()
    month = filters.with_values(date_from=date(2026, 9, 1), date_to=date(2026, 9, 30))
    want = reference(demo, filters, as_of)
    assert want["resolution"][1] > 0 and want["response"][1] > 0

    cards = kpis.results(demo, month, as_of, keys=("response_sla", "resolution_sla"), previous=False)
    page = compliance.compliance_table(
        compliance.counts(demo, month, period_of(demo, month, as_of), split="severity")).set_index(["metric", "severity"])
    report = sla_section(demo, month, as_of)[0].tables[0].data.set_index(["metric", "severity"])
    for key, m in (("response_sla", "response"), ("resolution_sla", "resolution")):
        met, n, open_breached = want[m]
        assert (cards[key].n, cards[key].extra["open_breached"]) == (n, open_breached), (key, as_of)
        assert cards[key].value == pytest.approx(100 * met / n)
        for table in (page, report):
            row = table.loc[(m, "All")]
            assert (row["met"], row["n"], row["open_breached"]) == (met, n, open_breached)

    if not filters.severity and not filters.team:
        argv = ["sla", "--db", str(demo_file), "--summary", "--from", "2026-09-01", "--to", "2026-09-30",
                "--as-of", as_of.isoformat(), "--json"]
        assert main(argv) == 0
        cli = pd.DataFrame(json.loads(capsys.readouterr().out)).set_index(["metric", "severity"])
        for m in ("response", "resolution"):
            assert (cli.loc[(m, "All"), "met"], cli.loc[(m, "All"), "n"]) == want[m][:2]
    if as_of == SEPTEMBER[1]:  # the closure window: the 30 days before as_of = September
        found, rows = closure_metrics.sla_clocks(demo, as_of, filters, ClosureRules(sla_window_days=30))
        assert found == {m: want[m][:2] for m in ("response", "resolution")}
        assert len(rows) == want["response"][1] + want["resolution"][1]


def test_tickets_opened_before_the_period_count_where_their_clock_stopped(demo):
    """The old cohort (tickets opened in the period) differs: October's figure includes clocks of
    September tickets that stopped in October, and leaves out October tickets resolved later."""
    as_of = datetime(2026, 11, 23)
    ev = evaluate(demo, as_of=as_of)
    start, end = datetime(2026, 10, 1), datetime(2026, 11, 1)
    stop = ev["resolution_stopped_at"]
    older = ((stop >= start) & (stop < end) & (ev["opened_at"] < start)).sum()
    later = ((ev["opened_at"] >= start) & (ev["opened_at"] < end) & (stop >= end)).sum()
    assert older > 0 and later > 0
    month = Filters(date_from=date(2026, 10, 1), date_to=date(2026, 10, 31))
    got = kpis.results(demo, month, as_of, keys=("resolution_sla",), previous=False)["resolution_sla"]
    assert got.n == int((ev["resolution_status"].astype(str).isin(["met", "breached"]) & (stop >= start)
                         & (stop < end)).sum())


def test_open_and_breached_at_a_past_period_end_does_not_depend_on_the_as_of_time(demo):
    """The open-and-breached clocks of a period ending in the go-live fortnight (running at its
    end, past their breach instant) are the same judged at its end as judged later, but for one
    deliberate rule of the engine: a ticket resolved without ever being acknowledged has no
    response clock (not applicable, "no acknowledgement recorded"). An unacknowledged ticket
    overdue at the period's end is open and breached judged then; once resolved without an
    acknowledgement, it leaves the count. (A clock due at 17:00 on the period's last day and
    judged that night, its business time equal to its target, breached at its deadline.) The
    period ends on Monday 14 September (New York): by the end of September the demo's team has
    settled and leaves too few overdue clocks to show both cases."""
    from analytics.sla.engine import NO_ACK

    period = Filters(date_from=date(2026, 9, 1), date_to=date(2026, 9, 14))
    te, later_as_of = datetime(2026, 9, 15), datetime(2026, 11, 23)
    later = compliance.counts(demo, period, period_of(demo, period, later_as_of)).set_index("metric")["open_breached"]
    at_end = compliance.counts(demo, period, period_of(demo, period, te)).set_index("metric")["open_breached"]
    assert later["resolution"] == at_end["resolution"] > 0
    # The response clocks overdue at the period's end as judged then; those whose ticket was
    # resolved by the later as-of time and never acknowledged (read from the tickets, not the
    # engine) are the ones the later judgement no longer counts.
    then = evaluate(demo, as_of=te)
    overdue = set(then.loc[compliance.open_breached_at(then, "response", te), "ticket_id"])
    assert len(overdue) == at_end["response"]
    never_acked = {r[0] for r in demo.execute(
        "SELECT ticket_id FROM tickets WHERE acknowledged_at IS NULL AND resolved_at < ? "
        "AND status_category IN ('resolved', 'closed')", [later_as_of]).fetchall()}
    dropped = overdue & never_acked
    assert dropped and later["response"] == at_end["response"] - len(dropped) > 0
    now = evaluate(demo, as_of=later_as_of)
    assert set(now.loc[compliance.open_breached_at(now, "response", te), "ticket_id"]) == overdue - dropped
    reasons = now.set_index("ticket_id").loc[sorted(dropped)]
    assert (reasons["response_status"].astype(str) == "not applicable").all()
    assert (reasons["response_reason"] == NO_ACK).all()
