"""The store and the command line of bench/concurrent_people.py: the seeded demo store, built
once and cached; the small files the CLI loop uploads; the loop itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from people_steps import Results

REPO_ROOT = Path(__file__).resolve().parent.parent


def cached_store(cache: Path, tickets: int, seed: int) -> Path:
    """The seeded demo store of `tickets` tickets, built into `cache` once (a build that was
    interrupted is never reused: it is renamed into place only when complete)."""
    from analytics.store import engagements

    path = cache / f"demo-{tickets}-seed{seed}.duckdb"
    if path.exists() and engagements.kind_of(path) == "engagement":
        print(f"store: reusing {path} ({path.stat().st_size / 1e6:,.0f} MB)")
        return path
    if path.exists():
        # Made before engagements: opening it would split it into a catalog whose Demo
        # engagement takes no uploads. The bench wants one engagement's store that does.
        print(f"store: {path} was made before engagements; building it again")
        path.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    building = cache / f".building-{tickets}-seed{seed}-{os.getpid()}.duckdb"
    print(f"store: building {tickets:,} demo tickets into {path} …", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analytics", "demo", "--tickets", str(tickets), "--seed", str(seed),
                    "--db", str(building)], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "HYPERCARE_NO_DEMO": "1"})
    os.replace(building, path)
    for suffix in (".lock", ".lock-queue"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    print(f"store: built in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)")
    return path


def count_tickets(db_path: Path, like: str | None = None) -> int:
    from analytics.store import sharing

    with sharing.reading(db_path) as con:
        if like is None:
            return con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
        return con.execute("SELECT count(*) FROM tickets WHERE external_id LIKE ?", [like]).fetchall()[0][0]


def upload_file(folder: Path, n: int, i: int) -> Path:
    """`n` demo tickets (seeded by i) under new ids BENCH<i>-…, as a canonical tickets CSV."""
    from analytics.demo import generator

    tickets, _history = generator.write_csvs(folder / f"gen{i}", n, seed=1000 + i)
    out = folder / f"upload-{i}.csv"
    out.write_text(tickets.read_text(encoding="utf-8").replace('"HC-', f'"BENCH{i}-'), encoding="utf-8")
    shutil.rmtree(folder / f"gen{i}")
    return out


def cli_loop(db_path: Path, work: Path, results: Results, stop: threading.Event, started: threading.Event,
             ingest_rows: int, report_format: str, commands: list[str]) -> int:
    """Run `commands` (of kpis, tickets, ingest, report) in turn, from when the people start
    until `stop` (after at least one full cycle); returns the number of cycles begun."""
    started.wait()
    env = {**os.environ, "HYPERCARE_NO_DEMO": "1", "HYPERCARE_PROFILES": str(work / "profiles")}
    cycle = 0
    while True:
        cycle += 1
        for command in commands:
            if stop.is_set() and cycle > 1:
                return cycle if command != commands[0] else cycle - 1
            stdout = subprocess.DEVNULL
            if command == "kpis":
                name, argv = "kpis", ["kpis"]
            elif command == "tickets":
                name, argv = "tickets --csv", ["tickets", "--csv"]
                stdout = (work / "tickets.csv").open("wb")
            elif command == "ingest":
                upload = upload_file(work / "uploads", ingest_rows, cycle)
                name, argv = "ingest", ["ingest", str(upload), "--profile", "hypercare-tickets", "--json"]
            else:
                name, argv = "report", ["report", "--month", "2026-10", "--format", report_format,
                                        "--out", str(work / f"report.{report_format}")]
            t0 = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, "-m", "analytics", *argv, "--db", str(db_path)],
                                      cwd=REPO_ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=1800)
            finally:
                if stdout is not subprocess.DEVNULL:
                    stdout.close()
            ms = (time.perf_counter() - t0) * 1000
            stderr = done.stderr.decode(errors="replace")
            if done.returncode != 0 or "Traceback" in stderr:
                results.error(f"CLI {name} (cycle {cycle}): exit {done.returncode}: {stderr.strip()[-800:]}")
                continue
            results.add(name, ms)
            if name == "ingest":
                with results.lock:
                    results.ingested += ingest_rows
            print(f"CLI cycle {cycle}: {name} {ms / 1000:.1f} s", flush=True)
