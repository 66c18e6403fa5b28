"""Monthly report benchmark: building the governance PDF for one month at 1,000,000 tickets.

    python bench/report.py                        # 1,000,000 demo tickets, month 2026-10
    python bench/report.py --tickets 100000 --runs 1
    python bench/report.py --db existing.duckdb   # reuse a store that already holds the demo

Loads the seeded demo once (as bench/kpis.py and bench/sla.py do; with --db PATH the store is
kept there and reused next time), then times the whole path `python -m analytics report` takes
for a PDF (analytics.report.pdf.build_pdf), cold each run (a new Chromium per report and an
empty in-process SLA judgement cache, as from the command line), by stage:
- gather: analytics.report.builder.build (every figure of every section, sections side by side; the
  time of each is printed below), while Chromium starts in the background,
- charts: the wait for the chart images after the gather (one Chromium session for all),
- pdf: analytics.report.pdf.render (fpdf2 layout, font subsetting, images);
plus the CSV zip and XLSX data packs for comparison. Target: PDF ≤ 30 s in total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo.loader import DEMO_OPERATOR, load_demo  # noqa: E402
from analytics.report import charts, pack  # noqa: E402
from analytics.report import pdf as report_pdf
from analytics.report.builder import GATHER_WORKERS  # noqa: E402
from analytics.store import db

TARGET_SECONDS = 30.0
AS_OF = datetime(2026, 11, 1)


def once(con, month: str, workers: int, cold: bool = True) -> dict[str, float]:
    try:  # cold: as a fresh `python -m analytics report` process; warm: as in the running app
        from analytics.sla import cache

        if cold:
            cache.clear()
    except ImportError:
        pass
    stages: dict[str, float] = {}
    report, pdf, error = report_pdf.build_pdf(con, month, as_of=AS_OF, timings=stages, workers=workers)
    if error:
        print(f"  warning: charts not drawn: {error}")
    t3 = time.perf_counter()
    csv = pack.to_csv_zip(report)
    t4 = time.perf_counter()
    book = pack.to_xlsx(report)
    t5 = time.perf_counter()
    total = stages["gather"] + stages["charts"] + stages["pdf"]
    print(f"  gather {stages['gather']:6.2f} s  charts {stages['charts']:5.2f} s ({len(report.charts)} images, "
          f"beyond the gather)  pdf {stages['pdf']:5.2f} s  = {total:6.2f} s for {len(pdf) / 1e6:.2f} MB;  "
          f"csv zip {t4 - t3:.2f} s, xlsx {t5 - t4:.2f} s ({len(csv) / 1e3:,.0f} kB, {len(book) / 1e3:,.0f} kB)")
    parts = {k: v for k, v in stages.items() if k not in ("gather", "charts", "pdf")}
    print("    sections (side by side, so they overlap): " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    return {"gather": stages["gather"], "charts": stages["charts"], "pdf": stages["pdf"], "total": total}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--month", default="2026-10")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", help="a DuckDB file holding the demo (loaded into it first when empty)")
    ap.add_argument("--workers", type=int, default=GATHER_WORKERS, help="sections gathered side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-report-") as tmp:
        con = db.connect(args.db or Path(tmp) / "report.duckdb")
        if db.ticket_count(con) == 0:
            t0 = time.perf_counter()
            load_demo(con, n_tickets=args.tickets, actor=DEMO_OPERATOR)
            print(f"loaded {args.tickets:,} demo tickets with history in {time.perf_counter() - t0:.1f} s")
        n_month = con.execute("SELECT count(*) FROM tickets WHERE strftime(opened_at, '%Y-%m') = ?",
                              [args.month]).fetchall()[0][0]
        print(f"store: {db.ticket_count(con):,} tickets, {n_month:,} opened in {args.month}; "
              f"Chromium: {charts.browser_path() or 'none found'}")
        runs = []
        for i in range(args.runs):
            print(f"run {i + 1}:")
            runs.append(once(con, args.month, args.workers))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        verdict = "met" if med["total"] <= TARGET_SECONDS else "NOT met"
        print(f"median of {len(runs)} cold: gather {med['gather']:.2f} s, charts {med['charts']:.2f} s, "
              f"pdf {med['pdf']:.2f} s, total {med['total']:.2f} s — target ≤ {TARGET_SECONDS:.0f} s {verdict}")
        print("warm (SLA judgements already cached, as in the app after a page used them):")
        once(con, args.month, args.workers, cold=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
