"""Engagements benchmark: 1,000,000 tickets split over 20 engagements (issue #13).

    python bench/engagements.py                                  # 1,000,000 over 20, browser too
    python bench/engagements.py --tickets 200000 --engagements 5 --no-browser

1. The catalog: N engagements, each its own store holding tickets/N seeded demo tickets (seed
   + i, so each go-live's data differs), built once into --cache and reused.
2. Analytics, per engagement, as one dashboard process serves it: the engagement's in-memory
   copy (store.sharing.snapshot), its first Overview (caches built), then the 24 filter changes of
   bench/kpis.py timed on the Overview (everything the page computes). p50/p95 over all
   engagements' changes, and the worst engagement's p95. Target: p95 ≤ 200 ms.
3. Memory of that process as it goes through every engagement: a dashboard keeps the copies
   (and their caches) of the most recently used stores only (ui/store_view: 4 by default,
   HYPERCARE_STORE_COPIES), so older copies are let go of as here; RSS after each.
4. Portfolio, as the page computes it (ui/portfolio_state.rows: a row per engagement, cached per
   store version, each computed on a copy let go of afterwards): the first visit, a visit
   again, and a visit after one engagement's store has changed (a setting written).
5. Browser (--browser): bench/kpis.py's browser part on one engagement's store — a Streamlit
   server and Chromium, 24 filter changes timed until painted. Target: p95 ≤ 1 s.

Prints `uptime` before and after: quote the load with the figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpis import BROWSER_TARGET_MS, TARGET_MS, filters, line, load, overview_page, p50_p95  # noqa: E402

from analytics.demo.calendar import DEMO_TIMEZONE  # noqa: E402
from analytics.demo.loader import load_demo  # noqa: E402
from analytics.store import db, engagements, sharing  # noqa: E402
from analytics.store.auth import local_operator  # noqa: E402
from ui.store_view import keep_copies  # noqa: E402

GO_LIVE = date(2026, 9, 7)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def catalog(cache: Path, tickets: int, n: int, seed: int) -> Path:
    """The catalog of n engagements, built into `cache` once (renamed into place when complete)."""
    folder = cache / f"engagements-{tickets}-{n}-seed{seed}"
    path = folder / "hypercare.duckdb"
    if path.exists():
        print(f"catalog: reusing {path}")
        return path
    building = cache / f".building-engagements-{os.getpid()}"
    t0 = time.perf_counter()
    target = building / "hypercare.duckdb"
    for i in range(n):
        e = engagements.create(target, f"go-live-{i + 1:02d}", f"Go-live {i + 1:02d}", go_live=GO_LIVE,
                               timezone_name=DEMO_TIMEZONE, actor=local_operator("bench"))
        with sharing.writing(e.path) as con:
            load_demo(con, n_tickets=tickets // n, seed=seed + i, actor=local_operator("bench"))
        print(f"catalog: {e.slug} built ({time.perf_counter() - t0:.0f} s so far)", flush=True)
    building.rename(folder)
    print(f"catalog: {n} engagements of {tickets // n:,} tickets built in {time.perf_counter() - t0:.0f} s")
    return path


def analytics_part(cat: Path) -> None:
    listed = engagements.list_engagements(cat)
    held, every, worst = [], [], (0.0, "")
    print(f"RSS before any engagement: {rss_mb():,.0f} MB")
    for e in listed:
        t0 = time.perf_counter()
        con, _version = sharing.snapshot(e.path)
        copy_s = time.perf_counter() - t0
        fs = filters(con)
        t0 = time.perf_counter()
        overview_page(con, fs[0])
        first_s = time.perf_counter() - t0
        times = []
        for f in fs:
            t0 = time.perf_counter()
            overview_page(con, f)
            times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = p50_p95(times)
        every += times
        worst = max(worst, (p95, e.slug))
        held = [*held, con][-keep_copies():]  # as ui/store_view keeps them
        print(f"{e.slug}: copy {copy_s:.2f} s, first Overview {first_s:.2f} s, filter changes p50 {p50:.0f} ms "
              f"p95 {p95:.0f} ms; RSS now {rss_mb():,.0f} MB", flush=True)
    print(line(f"Overview filter change, {len(listed)} engagements", every, TARGET_MS))
    print(f"worst engagement's p95: {worst[0]:.0f} ms ({worst[1]})")
    gc.collect()
    print(f"RSS with the last {len(held)} copies and their caches, after {len(listed)} engagements: "
          f"{rss_mb():,.0f} MB")


def portfolio_part(cat: Path) -> None:
    """Every engagement's row as the Portfolio page computes it (ui/portfolio_state.rows)."""
    from ui import portfolio_state

    listed = engagements.list_engagements(cat)
    for label in ("first visit", "again", "after one engagement changed"):
        if label.startswith("after"):
            with sharing.writing(listed[-1].path) as con:
                db.set_setting(con, "bench.touched", str(time.time()))
        t0 = time.perf_counter()
        rows = portfolio_state.rows(listed)
        print(f"Portfolio {label}: {len(rows)} rows in {time.perf_counter() - t0:.2f} s; RSS {rss_mb():,.0f} MB",
              flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--engagements", type=int, default=20)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hypercare-bench-cache")
    p.add_argument("--browser", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--browser-changes", type=int, default=24)
    args = p.parse_args()
    os.environ["HYPERCARE_NO_DEMO"] = "1"
    print(f"load before: {load()}")
    cat = catalog(args.cache, args.tickets, args.engagements, args.seed)
    analytics_part(cat)
    portfolio_part(cat)
    if args.browser:
        from kpis_browser import browser_part

        one = engagements.list_engagements(cat)[0]
        with tempfile.TemporaryDirectory(prefix="hypercare-eng-browser-") as tmp:
            copy = Path(tmp) / "engagement.duckdb"  # its own store, opened directly: the only engagement
            copy.write_bytes(one.path.read_bytes())
            times = browser_part(copy, args.browser_changes, Path(tmp))
        print(line(f"Browser filter change ({one.slug})", times, BROWSER_TARGET_MS))
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
