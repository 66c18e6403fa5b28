"""The CLI's JSON on the six real exports and the demo, recorded to compare two versions of the code.

    .venv/bin/python bench/cli_snapshot.py record /tmp/before     # on the old code
    .venv/bin/python bench/cli_snapshot.py record /tmp/after      # on the new code
    .venv/bin/python bench/cli_snapshot.py compare /tmp/before /tmp/after   # exit 1 on a difference

Each dataset is loaded into a store of its own with `python -m analytics ingest --json` (the demo
with `demo`), then every reading command runs with `--json` at a fixed as-of time. The only
fields that differ from one run to the next whatever the code (upload times, store paths, the
seconds a load took) are replaced by "<volatile>" before writing: VOLATILE names them. A
restructuring that changes no behaviour leaves every file byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.real_data_figures import DATASETS, real_dir  # noqa: E402

AS_OF = "2026-12-01T00:00:00"
DEMO = "demo"
# Keys whose values depend on the run, not on the code: when and where it ran, how long it took.
VOLATILE = {"uploaded_at", "seconds", "elapsed_s", "duration_s", "timings", "path", "db", "recorded_at"}
COMMANDS: dict[str, list[str]] = {
    "kpis": ["kpis", "--json", "--as-of", AS_OF],
    "kpis-by-severity": ["kpis", "--json", "--by", "severity", "--as-of", AS_OF],
    "kpis-by-month": ["kpis", "--json", "--by", "month", "--as-of", AS_OF],
    "sla-summary": ["sla", "--summary", "--json", "--as-of", AS_OF],
    "sla": ["sla", "--json", "--as-of", AS_OF],
    "sla-agreement": ["sla-agreement", "--json", "--as-of", AS_OF],
    "recurrence": ["recurrence", "--json"],
    "closure": ["closure", "--json", "--as-of", AS_OF],
    "tickets": ["tickets", "--json"],
}


def _cli(args: list[str], store: Path) -> tuple[int, str, str]:
    env = {**os.environ, "HYPERCARE_DB": str(store)}
    env.pop("HYPERCARE_ENGAGEMENT", None)
    done = subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    return done.returncode, done.stdout, done.stderr


def _masked(value: object) -> object:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _normalised(stdout: str) -> str:
    """The output with volatile fields masked: one JSON document, or one per line."""
    try:
        return json.dumps(_masked(json.loads(stdout)), sort_keys=True, indent=1) + "\n"
    except json.JSONDecodeError:
        lines = [ln for ln in stdout.splitlines() if ln.strip()]
        try:
            return "".join(json.dumps(_masked(json.loads(ln)), sort_keys=True) + "\n" for ln in lines)
        except json.JSONDecodeError:
            return stdout  # not JSON (an error message): compared as it is


def _load(name: str, store: Path) -> list[tuple[str, str]]:
    if name == DEMO:
        code, out, err = _cli(["demo", "--tickets", "5000", "--seed", "42"], store)
        return [("load", f"exit {code}\n{out}{err}")]
    folder = real_dir() / name
    code, out, err = _cli(["ingest", "--json", *[str(folder / f) for f in DATASETS[name]]], store)
    return [("load", f"exit {code}\n{_normalised(out)}{err}")]


def record(out_dir: Path, only: list[str] | None = None) -> None:
    """Write <dataset>/<command>.json for every dataset and command, and manifest.json."""
    names = [DEMO, *DATASETS]
    if not real_dir().is_dir():
        print(f"no real exports at {real_dir()}: recording the demo only", file=sys.stderr)
        names = [DEMO]
    names = [n for n in names if not only or n in only]
    manifest = {}
    with tempfile.TemporaryDirectory(prefix="hypercare-snapshot-") as tmp:
        for name in names:
            store = Path(tmp) / name / "store.duckdb"
            store.parent.mkdir(parents=True)
            target = out_dir / name
            target.mkdir(parents=True, exist_ok=True)
            outputs = _load(name, store)
            for command, args in COMMANDS.items():
                code, out, err = _cli(args, store)
                outputs.append((command, f"exit {code}\n{_normalised(out)}{err}"))
            for command, text in outputs:
                (target / f"{command}.json").write_text(text)
                manifest[f"{name}/{command}"] = hashlib.sha256(text.encode()).hexdigest()
            print(f"{name}: {len(outputs)} outputs", flush=True)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def compare(before: Path, after: Path) -> int:
    """0 when every output is byte-identical, else 1 with the differing files listed."""
    one = json.loads((before / "manifest.json").read_text())
    two = json.loads((after / "manifest.json").read_text())
    differ = sorted(k for k in one.keys() | two.keys() if one.get(k) != two.get(k))
    for key in differ:
        print(f"differs: {key}" + ("" if key in one and key in two else " (only in one of them)"))
    print(f"{len(one.keys() & two.keys()) - len([k for k in differ if k in one and k in two])} of "
          f"{len(one.keys() | two.keys())} outputs byte-identical")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--only", nargs="*", help=f"datasets to record (default: all): {DEMO}, {', '.join(DATASETS)}")
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.action == "record":
        record(args.out, args.only)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
