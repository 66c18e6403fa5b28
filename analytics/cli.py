"""Command line for scripts and scheduled jobs: `python -m analytics --help`."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from . import db
from .ingest import IngestError, ingest_file
from .profiles import ProfileError, all_profiles, load_profile

SOURCES = ("auto", "servicenow", "jira", "pagerduty", "statuspage", "generic")


def _operator() -> str:
    """Who the CLI records as uploader: HYPERCARE_OPERATOR, else the login name."""
    return os.environ.get("HYPERCARE_OPERATOR") or f"cli:{getpass.getuser()}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description="Hypercare incident analytics.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--db", help="DuckDB file (default: $HYPERCARE_DB or data/hypercare.duckdb)")
        return sp

    ing = with_db(sub.add_parser("ingest", help="load ticket exports into the store"))
    ing.add_argument("files", nargs="+", metavar="FILE")
    ing.add_argument("--source", choices=SOURCES, default="auto", help="restrict detection to one vendor")
    ing.add_argument("--profile", help="a mapping profile TOML file, or the name of a saved/built-in one")
    ing.add_argument("--tz", help="time zone for timestamps without an offset (IANA name)")
    ing.add_argument("--delimiter", help="CSV delimiter when detection gets it wrong: , ; tab |")
    ing.add_argument("--json", action="store_true", help="one JSON object per file on stdout")

    tick = with_db(sub.add_parser("tickets", help="print the canonical tickets"))
    fmt = tick.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    demo = with_db(sub.add_parser("demo", help="generate and load seeded demo data"))
    demo.add_argument("--tickets", type=int, default=5000)
    demo.add_argument("--seed", type=int, default=42)

    sub.add_parser("profiles", help="list the mapping profiles (built-in and saved)")
    return p


def _resolve_profile(value: str | None):
    if not value:
        return None
    if Path(value).suffix == ".toml" or Path(value).exists():
        return load_profile(value)
    for profile in all_profiles():
        if profile.source.name == value:
            return profile
    raise ProfileError(f"no profile file or profile named '{value}'")


def cmd_ingest(args) -> int:
    try:
        profile = _resolve_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    con = db.connect(args.db)
    failed = 0
    for f in args.files:
        try:
            result = ingest_file(con, f, source=args.source, profile=profile, tz=args.tz, uploaded_by=_operator(),
                                 delimiter=args.delimiter)
        except IngestError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(result.to_dict(), default=str))
        else:
            print(result.summary())
            for w in result.warnings:
                print(f"  warning: {w}")
            for raw, n in result.unmapped_severities.items():
                print(f"  unmapped severity: '{raw}' on {n:,} tickets")
    return 1 if failed else 0


def cmd_tickets(args) -> int:
    from .tickets_export import tickets_frame, to_json_records
    from .csv_export import to_csv_bytes

    con = db.connect(args.db)
    frame = tickets_frame(con)
    if args.csv:
        sys.stdout.buffer.write(to_csv_bytes(frame))
    elif args.json:
        json.dump(to_json_records(frame), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(frame.to_string(max_rows=50) + "\n")
    return 0


def cmd_demo(args) -> int:
    from .demo_loader import load_demo

    con = db.connect(args.db)
    for r in load_demo(con, n_tickets=args.tickets, seed=args.seed):
        print(r.summary())
    return 0


def cmd_profiles(_args) -> int:
    for p in all_profiles():
        print(f"{p.source.name:28} {p.source.layout:10} {p.source.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"ingest": cmd_ingest, "tickets": cmd_tickets, "demo": cmd_demo, "profiles": cmd_profiles}[
        args.command](args)
