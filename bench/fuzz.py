"""Fuzz benchmark (issue #14): seeded hostile uploads through the CLI, with tests/test_fuzz.py's checks.

    python bench/fuzz.py                          # 1,000 files, seed 14
    python bench/fuzz.py --fuzz-count 250 --seed 7 --kind gzip-bomb --kind json-deep

Builds the seed excerpts (the demo's, and the real exports' when shared/data/real exists; set
HYPERCARE_REAL_DATA to point elsewhere), the template store (demo + statuspage incidents), then
uploads every generated file into a copy of it in this process, as `python -m analytics ingest
FILE --db STORE --json`. Prints the outcome counts per kind, every broken rule, the slowest
cases and the process's peak memory. A case of a known defect (tests/fuzz_defects.py, strict
xfails in the tests) is counted apart; exit status 1 when a rule was broken anywhere else, or
when a known defect's case passed (it was fixed: its entry must go).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fuzz_files as ff  # noqa: E402
from tests.fuzz_checks import capture_cli, peak_rss_mb, run_case, table_digests  # noqa: E402
from tests.fuzz_defects import known_defect  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz-count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--kind", action="append", help="only these kinds (repeatable)")
    ap.add_argument("--matrix", action="store_true", help="every kind on every seed file once, instead")
    ap.add_argument("--slowest", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep each case's file and store in the work folder")
    args = ap.parse_args()
    real = Path(os.environ.get("HYPERCARE_REAL_DATA") or ROOT.parent / "shared" / "data" / "real")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hypercare-fuzz-") as tmp:
        work = Path(tmp)
        seeds = ff.load_seeds(real if real.is_dir() else None, work / "demo")
        template = work / "template.duckdb"
        ff.build_template(template, seeds)
        before = table_digests(template)
        setup = time.perf_counter() - start
        names = tuple(n for n in ff.SEED_NAMES if n in seeds)
        cases = ff.matrix(args.seed, names) if args.matrix else ff.plan(args.fuzz_count, args.seed, names)
        if args.kind:
            cases = [c for c in cases if c.kind in args.kind]
        print(f"{len(cases):,} cases, seed {args.seed}, {len(ff.KINDS)} kinds, seed files: {', '.join(names)}"
              f"{'' if real.is_dir() else ' (no real exports found at ' + str(real) + ')'}; setup {setup:.1f} s")
        references: dict[str, object] = {}
        outcomes, build_seconds = [], 0.0
        run_start = time.perf_counter()
        for case in cases:
            t = time.perf_counter()
            variant = ff.build(case, seeds)
            build_seconds += time.perf_counter() - t
            ref = None
            if variant.expect == ff.SAME:
                if case.seed_name not in references:
                    clean = ff.build(ff.Case(-1, "clean", case.seed_name, 0), seeds)
                    references[case.seed_name] = run_case(clean, template, before, work, capture_cli)
                ref = references[case.seed_name]
            outcomes.append(run_case(variant, template, before, work, capture_cli, ref, keep=args.keep))
        wall = time.perf_counter() - run_start
    defects = {o.name: known_defect(c) for o, c in zip(outcomes, cases)}
    report(outcomes, defects, wall, build_seconds, args.slowest)
    return 1 if any(bool(o.problems) != bool(defects[o.name]) for o in outcomes) else 0


def report(outcomes, defects: dict[str, str | None], wall: float, build_seconds: float, slowest: int) -> None:
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    cpu: collections.Counter = collections.Counter()
    for o in outcomes:
        cpu[o.kind] += o.cpu_seconds
        by_kind[o.kind]["accepted" if o.accepted else f"refused ({o.code})"] += 1
        by_kind[o.kind]["rule broken"] += bool(o.problems)
        by_kind[o.kind]["known defect"] += bool(o.problems) and bool(defects[o.name])
    total = collections.Counter()
    for c in by_kind.values():
        total.update(c)
    n = len(outcomes)
    print(f"\n{n:,} uploads in {wall:.1f} s ({wall / max(n, 1) * 1000:.0f} ms each, {build_seconds:.1f} s of it "
          f"generating files); peak RSS of the process {peak_rss_mb():,.0f} MB")
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(total.items())))
    print(f"CPU: {sum(cpu.values()):.1f} s in the uploads themselves (this process, DuckDB's threads included)")
    print(f"\n{'kind':32} {'cases':>5} {'accepted':>8} {'refused':>8} {'broken':>6} {'known':>5} {'CPU s':>6}")
    for kind, c in by_kind.items():
        refused = sum(v for k, v in c.items() if k.startswith("refused"))
        print(f"{kind:32} {c['accepted'] + refused:5} {c['accepted']:8} {refused:8} {c['rule broken']:6} "
              f"{c['known defect']:5} {cpu[kind]:6.1f}")
    print(f"\nslowest {slowest}:")
    for o in sorted(outcomes, key=lambda o: -o.seconds)[:slowest]:
        print(f"  {o.seconds:6.2f} s ({o.cpu_seconds:5.2f} s CPU)  +{o.rss_growth_mb:5.0f} MB peak  exit {o.code}  "
              f"{o.name}")
    known = collections.Counter(defects[o.name] for o in outcomes if o.problems and defects[o.name])
    print(f"\nknown defects (tests/fuzz_defects.py): {sum(known.values())} cases")
    for reason, n in known.most_common():
        print(f"  {n:4}  {reason}")
    fixed = [o for o in outcomes if defects[o.name] and not o.problems]
    print(f"\nknown-defect cases that passed (fixed? remove the entry): {len(fixed)}")
    for o in fixed:
        print(f"  {o.name}: {defects[o.name]}")
    broken = [o for o in outcomes if o.problems and not defects[o.name]]
    print(f"\nrules broken outside the known defects: {len(broken)} cases")
    for o in broken:
        for problem in o.problems:
            print(f"  {o.name}: {problem[:400]}")


if __name__ == "__main__":
    sys.exit(main())
