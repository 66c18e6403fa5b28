"""How long `python -m analytics ingest FILE` holds the store's write turn, against its whole run.

    python bench/lock_hold.py FILE [--runs 3] [--repo PATH]

Each run loads FILE into a new (empty) store, then loads it again (nothing changed); the store
is created before the clock starts. `--repo` runs another checkout's code (e.g. `git archive`
of an older commit) for a before/after comparison. Medians over --runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from analytics.cli import main as cli
    from analytics.store import db, sharing

    held: list[float] = []
    real_turn = sharing.turn

    @contextmanager
    def timed_turn(path, *, write, **kw):
        with real_turn(path, write=write, **kw):
            start = time.perf_counter()
            try:
                yield
            finally:
                if write:
                    held.append(time.perf_counter() - start)

    sharing.turn = timed_turn
    figures: dict[str, list[tuple[float, float]]] = {"new store": [], "same file again": []}
    with tempfile.TemporaryDirectory(prefix="hypercare-lock-") as tmp:
        for run in range(args.runs):
            path = Path(tmp) / f"s{run}.duckdb"
            db.connect(path, held=False).close()
            for label in figures:
                held.clear()
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    assert cli(["ingest", str(args.file), "--db", str(path)]) == 0
                figures[label].append((sum(held), time.perf_counter() - start))
    print(f"{args.file.name}, code from {args.repo}, median of {args.runs}:")
    for label, runs in figures.items():
        lock = statistics.median(r[0] for r in runs)
        whole = statistics.median(r[1] for r in runs)
        print(f"  {label:16} write turn held {lock:6.2f} s of {whole:6.2f} s ({lock / whole:4.0%})")


if __name__ == "__main__":
    main()
