"""Ingest benchmark: Hypercare's upload of a generated CSV against DuckDB's own CSV load.

    python bench/ingest.py                     # 1,000,000 tickets, 3 runs each
    python bench/ingest.py --tickets 100000 --runs 1

Prints, for the same file: DuckDB alone (`CREATE TABLE AS SELECT * FROM read_csv(...)` into a
new database file), Hypercare's ingest into a new store (read, detect, map, validate, upsert,
commit), their ratio (target ≤ 2), the re-upload of the unchanged file, and the per-stage times.
Medians over --runs, runs interleaved so background load hits both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import uploads  # noqa: E402
from analytics.demo import generator  # noqa: E402
from analytics.store import db
from analytics.store.auth import local_operator  # noqa: E402


def duckdb_alone(csv: Path, workdir: Path, run: int) -> float:
    con = duckdb.connect(str(workdir / f"plain-{run}.duckdb"))
    start = time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(csv)])
    con.close()  # include the checkpoint, as ingest's commit does
    return time.perf_counter() - start


def hypercare(csv: Path, workdir: Path, run: int) -> tuple[float, float, dict]:
    con = db.connect(workdir / f"store-{run}.duckdb")
    start = time.perf_counter()
    first = uploads.load(con, csv, uploaded_by=local_operator("bench"), max_bytes=2**40)
    seconds = time.perf_counter() - start
    assert first.tickets_inserted > 0 and first.rows_rejected == 0, first.summary()
    start = time.perf_counter()
    again = uploads.load(con, csv, uploaded_by=local_operator("bench"), max_bytes=2**40)
    reupload = time.perf_counter() - start
    assert again.tickets_inserted == again.tickets_updated == 0
    con.close()
    return seconds, reupload, first.timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        csv, _history = generator.write_csvs(work, args.tickets, seed=42)
        print(f"generated {args.tickets:,} tickets: {csv.stat().st_size / 1e6:,.1f} MB CSV "
              f"in {time.perf_counter() - start:.1f} s")
        plain, ours, again, stages = [], [], [], []
        for run in range(args.runs):
            plain.append(duckdb_alone(csv, work, run))
            s, r, t = hypercare(csv, work, run)
            ours.append(s)
            again.append(r)
            stages.append(t)
        p, o, a = statistics.median(plain), statistics.median(ours), statistics.median(again)
        print(f"duckdb CREATE TABLE AS read_csv : {p:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in plain)})")
        print(f"hypercare ingest (new store)    : {o:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in ours)})")
        print(f"ratio ingest / duckdb           : {o / p:6.2f}   (target <= 2)")
        print(f"re-upload, all unchanged        : {a:6.2f} s")
        keys = stages[0].keys()
        print("ingest stages (median s)       : " + ", ".join(
            f"{k} {statistics.median(t.get(k, 0) for t in stages):.2f}" for k in keys))


if __name__ == "__main__":
    main()
