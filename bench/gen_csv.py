"""Generate the demo tickets and status history as canonical CSVs (input of the ingest benchmark).

    python bench/gen_csv.py --tickets 1000000 --out /tmp/hc-1m
    python bench/gen_csv.py --tickets 1000000 --out /tmp/hc-1m --generate   # also time generate()

Prints the seconds taken, each file's size and row count, and the peak resident memory (the
writer streams chunks of days, so memory should not grow with --tickets).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo import generator  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True, help="folder for tickets.csv and history.csv")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--generate", action="store_true", help="also time generate() into DataFrames")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    paths = generator.write_csvs(args.out, args.tickets, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"write_csvs({args.tickets:,}, seed={args.seed}): {seconds:.2f} s")
    for path in paths:
        with open(path, "rb") as fh:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
        print(f"  {path}: {path.stat().st_size / 1e6:,.1f} MB, {rows:,} rows")
    # ru_maxrss is in KiB on Linux: the peak so far, i.e. of write_csvs (run before generate).
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")

    if args.generate:
        start = time.perf_counter()
        tickets, history = generator.generate(args.tickets, seed=args.seed)
        print(f"generate({args.tickets:,}): {time.perf_counter() - start:.2f} s "
              f"({len(tickets):,} tickets, {len(history):,} history rows)")


if __name__ == "__main__":
    main()
