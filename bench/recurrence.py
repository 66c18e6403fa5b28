"""Recurrence clustering benchmark: a million tickets, ~200,000 distinct titles.

    python bench/recurrence.py                       # 1,000,000 tickets, 2,000 templates
    python bench/recurrence.py --tickets 100000

Builds the tickets in a temp DuckDB file with SQL (deterministic: every choice is a function of
the row number): 2,000 failure templates over 40 services × 5 components, each filled with 95
host/number variants (190,000 titles that normalisation collapses back to 2,000), plus 1 % noisy
tickets whose title carries an extra word (~10,000 more distinct titles and signatures that the
fuzzy step has to place). Then times a full `update_clusters`, the `clusters` statistics query,
and an incremental `update_clusters` after a 1,000-ticket upload. Prints seconds and the peak
resident memory (ru_maxrss: DuckDB's memory is native, tracemalloc would not see it).
Targets on a 2-core machine: full ≤ 60 s, ≤ 4 GiB; incremental ≤ 5 s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.recurrence import clustering  # noqa: E402
from analytics.store import db

SUBJECTS = ("Payment gateway", "ERP order sync", "SSO login", "Checkout page", "Nightly DWH load",
            "Push service", "Refund batch", "Inventory feed", "Search index", "Invoice export",
            "Mail relay", "Price engine", "Shipping API", "Loyalty points", "Fraud scoring",
            "Report scheduler", "File transfer", "Address lookup", "Tax calculation", "Session store")
FAILURES = ("timeout", "returns HTTP 500", "is slow", "drops messages", "rejects requests",
            "runs out of memory", "fails to start", "shows stale data", "loops on retry", "crashes")
CONTEXTS = ("after deploy", "during peak hours", "for EU tenants", "on first login", "at month end",
            "behind the VPN", "under load", "after failover", "for new customers", "in batch mode")
NOISE = ("again", "intermittently", "partially", "repeatedly", "briefly", "silently", "badly",
         "suddenly", "twice", "overnight")
N_TEMPLATES = 2000
VARIANTS = 95
TARGET_FULL_S, TARGET_INCREMENTAL_S, TARGET_GIB = 60.0, 5.0, 4.0


def templates() -> pd.DataFrame:
    rows = []
    for k in range(N_TEMPLATES):
        s, f, c = SUBJECTS[k % 20], FAILURES[(k // 20) % 10], CONTEXTS[(k // 200) % 10]
        rows.append({"k": k, "tmpl": f"{s} {f} {c} on {{host}} (ref {{num}})",
                     "service": f"Service {k % 40:02d}", "component": f"Component {(k // 40) % 5}"})
    return pd.DataFrame(rows)


def insert(con, first: int, n: int, dataset_id: int, salt: int = 0) -> None:
    """Tickets first..first+n-1: template hash(i) % 2000, variant by row, 1 % noisy titles.

    A non-zero `salt` shifts the variants too, so an "upload" brings titles never seen before."""
    cur = con.cursor()
    cur.register("bench_templates", templates())
    cur.register("bench_noise", pd.DataFrame({"j": range(len(NOISE)), "word": NOISE}))
    cur.execute(
        """INSERT INTO tickets BY NAME
        WITH r AS (SELECT i, hash(i + ?) % ? AS k, (i // 7) % ? + ? * 1000 AS v, hash(i * 31 + ?) % 100 AS noisy
                   FROM range(?, ? + ?) t(i))
        SELECT 'bench:' || i AS ticket_id, 'bench' AS source, 'incident' AS type,
               replace(replace(t.tmpl, '{host}', 'node-' || lpad((v % 19)::VARCHAR, 2, '0')),
                       '{num}', (1000 + v * 37)::VARCHAR)
                 || CASE WHEN noisy = 0 THEN ' ' || n.word || ' ' || (k % 97)::VARCHAR ELSE '' END AS title,
               t.service, t.component, 'Software' AS category,
               'SEV-' || (1 + i % 4) AS severity,
               TIMESTAMP '2026-01-01' + to_seconds(i * 30) AS opened_at,
               TIMESTAMP '2026-01-01' + to_seconds(i * 30) AS impact_started_at,
               TIMESTAMP '2026-01-01' + to_seconds(i * 30 + 3600) AS resolved_at,
               CASE WHEN k % 3 = 0 THEN 'PRB' || k END AS problem_id, ? AS dataset_id
        FROM r JOIN bench_templates t USING (k) JOIN bench_noise n ON n.j = r.i % 10""",
        [salt, N_TEMPLATES, VARIANTS, salt, salt, first, first, n, dataset_id])


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-") as d:
        con = db.connect(Path(d) / "bench.duckdb")
        t = time.perf_counter()
        insert(con, 0, args.tickets, dataset_id=1)
        distinct = con.execute("SELECT count(DISTINCT title) FROM tickets").fetchall()[0][0]
        print(f"generated {args.tickets:,} tickets, {distinct:,} distinct titles "
              f"in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        full = clustering.update_clusters(con)
        full_s = time.perf_counter() - t
        print(f"full update_clusters: {full_s:.1f} s ({full['keys_added']:,} keys, "
              f"{full['clusters_added']:,} clusters)")

        t = time.perf_counter()
        stats = clustering.clusters(con)
        print(f"clusters() statistics: {time.perf_counter() - t:.1f} s ({len(stats):,} clusters, "
              f"largest {int(stats['tickets'].max()):,} tickets)")

        insert(con, args.tickets, 1000, dataset_id=2, salt=7)
        t = time.perf_counter()
        inc = clustering.update_clusters(con, dataset_id=2)
        inc_s = time.perf_counter() - t
        print(f"incremental update_clusters after a 1,000-ticket upload: {inc_s:.2f} s "
              f"({inc['keys_added']:,} new keys, {inc['clusters_added']:,} new clusters)")
        assert clustering.stored_is_current(con, clustering.DEFAULT_THRESHOLD)
        gib = peak_gib()
        print(f"peak resident memory: {gib:.2f} GiB")
        ok = full_s <= TARGET_FULL_S and inc_s <= TARGET_INCREMENTAL_S and gib <= TARGET_GIB
        print(f"targets (full ≤ {TARGET_FULL_S:.0f} s, incremental ≤ {TARGET_INCREMENTAL_S:.0f} s, "
              f"≤ {TARGET_GIB:.0f} GiB): {'met' if ok else 'MISSED'}")
        con.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
