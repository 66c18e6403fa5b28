"""KPI benchmark: the analytics work behind a filter change on the Overview and KPI trends pages.

    python bench/kpis.py                       # 1,000,000 demo tickets, 24 filters
    python bench/kpis.py --tickets 100000
    python bench/kpis.py --db existing.duckdb  # reuse a store that already holds the demo

Loads the seeded demo once into a temp DuckDB file, warms up, then times each filter once per
page (a filter change is a new cache key, so every call below is uncached at the UI edge):
- Overview: kpis.results for the KPI cards except the two SLA cards, plus the existing
  overview figures (summary, ageing, severity mix, daily volume, backlog table) and the
  hypercare series;
- Overview SLA cards: kpis.results for response/resolution SLA (analytics/sla_engine.evaluate
  over the filtered tickets), reported on its own because it is the SLA engine's cost;
- KPI trends: kpi_trends.trend for a rotating KPI, grain and split.
Prints p50 and p95 per page against the target (p95 ≤ 200 ms). Browser re-render time is not
measured here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import db, kpi_registry, kpi_trends, kpis, overview  # noqa: E402
from analytics.demo_loader import load_demo  # noqa: E402
from analytics.filters import Filters  # noqa: E402

TARGET_MS = 200.0
AS_OF = datetime(2026, 11, 23, 12, 0)
NON_SLA = tuple(k for k in kpi_registry.CARD_KEYS if not k.endswith("_sla"))
SLA = ("response_sla", "resolution_sla")
TREND_CASES = [("mttr", "week", "none"), ("mtta", "day", "severity"), ("tickets", "day", "none"),
               ("availability", "week", "service"), ("open_backlog", "week", "team"),
               ("reopen_rate", "month", "none"), ("mttd", "week", "severity"),
               ("mtbf", "month", "service"), ("first_time_fix", "quarter", "team")]


def filters(con) -> list[Filters]:
    """24 varied filters: severity subsets, services, teams, date ranges, and combinations."""
    services = [r[0] for r in con.execute(
        "SELECT service FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 4").fetchall()]
    teams = [r[0] for r in con.execute(
        "SELECT team FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 3").fetchall()]
    lo = con.execute("SELECT min(opened_at)::DATE FROM tickets").fetchall()[0][0]
    weeks = [(lo + timedelta(days=7 * i), lo + timedelta(days=7 * i + 13)) for i in range(0, 10, 2)]
    sev = [("SEV-1",), ("SEV-1", "SEV-2"), ("SEV-3", "SEV-4"), ("SEV-2",)]
    out = [Filters()]
    out += [Filters(severity=s) for s in sev]
    out += [Filters(service=(s,)) for s in services]
    out += [Filters(team=(t,)) for t in teams]
    out += [Filters(date_from=a, date_to=b) for a, b in weeks]
    out += [Filters(date_from=a, date_to=b, severity=s) for (a, b), s in zip(weeks, sev)]
    out += [Filters(date_from=weeks[0][0], date_to=weeks[-1][1], service=(services[0],),
                    severity=("SEV-1", "SEV-2")),
            Filters(date_from=lo + timedelta(days=30), date_to=date(2026, 11, 20))]
    return out


def overview_page(con, f: Filters) -> None:
    kpis.results(con, f, AS_OF, keys=NON_SLA)
    overview.summary(con, f, AS_OF)
    overview.backlog_ageing(con, f, AS_OF)
    overview.severity_mix(con, f)
    overview.volume_by_day(con, f)
    overview.backlog(con, f, AS_OF)
    kpi_trends.hypercare_daily(con, f, date(2026, 9, 7))


def kpi_cards(con, f: Filters) -> None:
    kpis.results(con, f, AS_OF, keys=NON_SLA)


def sla_cards(con, f: Filters) -> None:
    kpis.results(con, f, AS_OF, keys=SLA)


def time_page(name: str, fn, con, cases: list) -> list[float]:
    fn(con, *cases[0])  # warm-up
    times = []
    for case in cases:
        t0 = time.perf_counter()
        fn(con, *case)
        times.append((time.perf_counter() - t0) * 1000)
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
    verdict = "OK" if p95 <= TARGET_MS else "over target"
    print(f"{name:34} n={len(times):3}  p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  max {max(times):8.1f} ms"
          f"  [{verdict}, target p95 ≤ {TARGET_MS:.0f} ms]")
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--db", help="a DuckDB file already holding the demo (skips the load)")
    p.add_argument("--skip-sla", action="store_true", help="leave out the SLA cards")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-") as d:
        path = Path(args.db) if args.db else Path(d) / "bench.duckdb"
        con = db.connect(path)
        if db.ticket_count(con) == 0:
            t0 = time.perf_counter()
            load_demo(con, n_tickets=args.tickets)
            print(f"loaded {args.tickets:,} demo tickets in {time.perf_counter() - t0:.1f} s")
        print(f"store: {db.ticket_count(con):,} tickets")
        fs = filters(con)
        time_page("Overview (KPI cards w/o SLA + figures)", overview_page, con, [(f,) for f in fs])
        time_page("  of which KPI cards (w/o SLA)", kpi_cards, con, [(f,) for f in fs])
        trend_cases = [(f, *TREND_CASES[i % len(TREND_CASES)]) for i, f in enumerate(fs)]
        time_page("KPI trends (one KPI, grain, split)",
                  lambda c, f, k, g, s: kpi_trends.trend(c, f, k, g, s, AS_OF), con, trend_cases)
        if not args.skip_sla:
            time_page("Overview SLA cards (sla_engine)", sla_cards, con, [(f,) for f in fs])
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
