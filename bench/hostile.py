"""The small files that used to eat the machine (issue #14, item 7), for docs/benchmarks.md.

    python bench/hostile.py write --out /tmp/hostile      # the three files below
    python bench/hostile.py inspect /tmp/hostile/rows-1m.xlsx   # the Upload page's first step

- columns-3000.csv: 10 demo tickets with 2,969 extra short columns (3,000 in all, ~100 KB);
- corrupt.csv.gz: one ticket (id, opened time, title) repeated to 15 MB, gzipped to ~50 KB,
  its CRC-32 changed;
- rows-1m.xlsx: 1,000,000 demo tickets x 4 columns (~20 MB).
Measure each with /usr/bin/time -v (elapsed time, maximum resident set size), e.g.
`/usr/bin/time -v python -m analytics ingest /tmp/hostile/columns-3000.csv --db STORE`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo import generator  # noqa: E402

XLSX_COLUMNS = ("external_id", "severity", "status", "opened_at")


def _demo_rows(folder: Path) -> tuple[list[str], list[list[str]]]:
    tickets, _ = generator.write_csvs(folder, 300, seed=43)
    with open(tickets, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _csv(header, rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode()


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        header, rows = _demo_rows(Path(tmp))
    extra = 3000 - len(header)
    wide = [r + [("x", "", "", "1")[(i + j) % 4] for j in range(extra)] for i, r in enumerate(rows[:10])]
    (out / "columns-3000.csv").write_bytes(_csv(header + [f"extra_{j:04d}" for j in range(extra)], wide))

    one = {"external_id": "HC-000001", "opened_at": "2026-09-07 11:26:04", "title": "Disk full"}
    line = (",".join(one.get(c, "") for c in header) + "\n").encode()
    body = gzip.compress(_csv(header, []) + line * 220_000, compresslevel=9, mtime=0)
    crc_at = len(body) - 8  # the trailer: CRC-32, then the length
    (out / "corrupt.csv.gz").write_bytes(body[:crc_at] + bytes([body[crc_at] ^ 0xFF]) + body[crc_at + 1:])

    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(list(XLSX_COLUMNS))
    picks = [header.index(c) for c in XLSX_COLUMNS]
    for i in range(1_000_000):
        r = rows[i % len(rows)]
        ws.append([f"HC-{i + 1:07d}", *(r[p] or None for p in picks[1:])])
    wb.save(out / "rows-1m.xlsx")
    for f in sorted(out.iterdir()):
        print(f"{f}: {f.stat().st_size:,} bytes")


def inspect(path: Path) -> None:
    from analytics.ingest.stage import IngestError, inspect_file
    from analytics.store import db

    with tempfile.TemporaryDirectory() as tmp:
        con = db.connect(Path(tmp) / "store.duckdb")
        start = time.perf_counter()
        try:
            insp = inspect_file(con, path)
            print(f"{insp.file_name}: {insp.rows:,} rows, {len(insp.columns)} columns, "
                  f"{len(insp.preview)} preview rows", end="")
        except IngestError as exc:
            print(f"refused: {exc}", end="")
        print(f"; {time.perf_counter() - start:.2f} s")
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("write").add_argument("--out", type=Path, required=True)
    sub.add_parser("inspect").add_argument("file", type=Path)
    args = ap.parse_args()
    write(args.out) if args.cmd == "write" else inspect(args.file)


if __name__ == "__main__":
    main()
