"""KPI benchmark: what a filter change costs on the Overview and KPI trends pages.

    python bench/kpis.py                         # 1,000,000 demo tickets, 24 filters, browser too
    python bench/kpis.py --db existing.duckdb    # reuse a store that already holds the demo
    python bench/kpis.py --tickets 100000 --no-browser --runs 5

1. Analytics (the work behind a filter change, warm): the seeded demo is loaded once into a
   DuckDB file; one call per page warms the store-version caches (SLA judgements, KPI facts);
   then each of 24 varied filters (severity subsets, services, teams, date ranges, mixes) is
   timed once per page — a filter change is a new key for the page's Streamlit caches, so
   every call below is what the page computes after a change:
   - Overview: everything the page computes, in its order: the ticket count of the caption,
     the cube (one scan the summary, daily volume, backlog ageing and severity mix are read
     from), the twelve KPI cards (SLA cards included) with the previous period, the hypercare
     series, the open-backlog table (its first 1,000 rows, as the page lists);
   - of which the KPI cards, and of which the two SLA cards;
   - KPI trends: kpi.trends.trend for a rotating KPI (SLA ones included), grain and split.
   Also printed: the one-off cost of the first request after an upload or a policy save (the
   caches are built) and of the first request in a new as-of minute (open tickets re-judged).
   --runs N repeats the timed pass N times and prints the median of each run's p50 and p95.
2. Browser (--browser, on by default; --no-browser skips it): `streamlit run app.py` on the
   same store (HYPERCARE_DB, HYPERCARE_NO_DEMO=1) in Debian's Chromium through Playwright:
   opens the Overview, warms up with 3 filter changes, then makes 24 more in the sidebar's
   filter widgets as a user does (each a new filter combination) and times each from the click
   until the page's script run has finished and the browser has painted the result; p50/p95.
   See bench/kpis_browser.py.

Targets: analytics p95 ≤ 200 ms per page; browser p95 ≤ 1 s. Prints `uptime` before and after
(the machine is shared: quote the load with the figures).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo.loader import DEMO_OPERATOR, load_demo  # noqa: E402
from analytics.kpi import facts, kpis, overview, registry, trends
from analytics.sla import cache  # noqa: E402
from analytics.store import db
from analytics.store.filters import Filters, count_tickets  # noqa: E402

TARGET_MS = 200.0
BROWSER_TARGET_MS = 1000.0
AS_OF = datetime(2026, 11, 23, 12, 0)
GO_LIVE = date(2026, 9, 7)
SLA = ("response_sla", "resolution_sla")
TREND_CASES = [("mttr", "week", "none"), ("mtta", "day", "severity"), ("tickets", "day", "none"),
               ("availability", "week", "service"), ("open_backlog", "week", "team"),
               ("reopen_rate", "month", "none"), ("mttd", "week", "severity"),
               ("response_sla", "week", "severity"), ("mtbf", "month", "service"),
               ("resolution_sla", "day", "none"), ("first_time_fix", "quarter", "team")]


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
            Filters(date_from=lo + timedelta(days=30), date_to=date(2026, 11, 20)),
            Filters(status=("open",), team=(teams[0],))]
    return out


def overview_page(con, f: Filters, as_of: datetime = AS_OF) -> None:
    """What pages/overview.py computes after a filter change, in its order."""
    count_tickets(con, f)
    cube = overview.cube(con, f, as_of)  # one scan for the summary, volume, ageing and mix
    overview.summary_from(cube, as_of)
    kpis.results(con, f, as_of, keys=registry.CARD_KEYS)
    trends.hypercare_daily(overview.volume_from(cube), GO_LIVE)
    overview.ageing_from(cube)
    overview.mix_from(cube)
    overview.backlog(con, f, as_of, limit=1000)  # the rows the page lists (ui.cache.BACKLOG_ROWS)


def kpi_cards(con, f: Filters) -> None:
    kpis.results(con, f, AS_OF, keys=registry.CARD_KEYS)


def sla_cards(con, f: Filters) -> None:
    kpis.results(con, f, AS_OF, keys=SLA)


def trend_page(con, f: Filters, key: str, grain: str, split: str) -> None:
    trends.trend(con, f, key, grain, split, AS_OF)


def p50_p95(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20, method="inclusive")[18]


def line(name: str, times: list[float], target: float) -> str:
    p50, p95 = p50_p95(times)
    verdict = "met" if p95 <= target else "NOT met"
    return (f"{name:40} n={len(times):3}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(times):7.1f} ms"
            f"  [target p95 ≤ {target:.0f} ms: {verdict}]")


def time_cases(fn, con, cases: list) -> list[float]:
    times = []
    for case in cases:
        t0 = time.perf_counter()
        fn(con, *case)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def analytics_part(con, runs: int) -> dict[str, list[tuple[float, float]]]:
    fs = filters(con)
    pages = {
        "Overview (all it computes)": (overview_page, [(f,) for f in fs]),
        "  of which the 12 KPI cards": (kpi_cards, [(f,) for f in fs]),
        "  of which the 2 SLA cards": (sla_cards, [(f,) for f in fs]),
        "KPI trends (one KPI, grain, split)": (
            trend_page, [(f, *TREND_CASES[i % len(TREND_CASES)]) for i, f in enumerate(fs)]),
    }
    cache.clear()
    facts.clear()
    t0 = time.perf_counter()
    overview_page(con, fs[0])
    print(f"first Overview after an upload or policy save (caches built): {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    overview_page(con, fs[0], AS_OF + timedelta(minutes=1))
    print(f"first Overview in a new as-of minute (open tickets re-judged): {time.perf_counter() - t0:.2f} s")
    for fn, cases in pages.values():
        fn(con, *cases[0])  # warm-up
    summary: dict[str, list[tuple[float, float]]] = {name: [] for name in pages}
    for run in range(runs):
        for name, (fn, cases) in pages.items():
            times = time_cases(fn, con, cases)
            summary[name].append(p50_p95(times))
            print(f"run {run + 1}: " + line(name, times, TARGET_MS))
    if runs > 1:
        print(f"median over {runs} runs:")
        for name, pairs in summary.items():
            p50 = statistics.median(p[0] for p in pairs)
            p95 = statistics.median(p[1] for p in pairs)
            print(f"  {name:40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
                  f"  [target p95 ≤ {TARGET_MS:.0f} ms: {'met' if p95 <= TARGET_MS else 'NOT met'}]")
    return summary


def load() -> str:
    return os.popen("uptime").read().strip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--db", help="a DuckDB file already holding the demo (skips the load; kept)")
    p.add_argument("--runs", type=int, default=1, help="timed passes over the filters (median printed)")
    p.add_argument("--browser", action=argparse.BooleanOptionalAction, default=True,
                   help="also time filter changes in a real browser (default: on)")
    p.add_argument("--analytics", action=argparse.BooleanOptionalAction, default=True,
                   help="time the analytics behind each page (default: on)")
    p.add_argument("--browser-changes", type=int, default=24, help="timed filter changes in the browser")
    args = p.parse_args()
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-") as d:
        path = Path(args.db) if args.db else Path(d) / "bench.duckdb"
        con = db.connect(path)
        if db.ticket_count(con) == 0:
            t0 = time.perf_counter()
            load_demo(con, n_tickets=args.tickets, actor=DEMO_OPERATOR)
            print(f"loaded {args.tickets:,} demo tickets in {time.perf_counter() - t0:.1f} s")
        print(f"store: {db.ticket_count(con):,} tickets")
        if args.analytics:
            analytics_part(con, args.runs)
        con.close()  # the browser part's server opens the same file
        if args.browser:
            from kpis_browser import browser_part

            times = browser_part(path, args.browser_changes, Path(d))
            print(line("Browser: filter change → re-rendered", times, BROWSER_TARGET_MS))
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
