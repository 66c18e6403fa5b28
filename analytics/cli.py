"""Command line for scripts and scheduled jobs: `python -m analytics --help`."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from . import auth, cli_engagements, cli_errors, store
from .engagements import EngagementError
from .cli_parser import parser as _parser
from .ingest import IngestError, apply_staged, stage_file, upload_settings
from .profiles import ProfileError, all_profiles, load_profile

def _operator() -> auth.Identity:
    """Who the CLI acts as: a local operator with every role (the file system's permissions
    guard the store), recorded as HYPERCARE_OPERATOR, else "cli:<login name>"."""
    return auth.local_identity("cli")


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
    # Reading and checking each file holds no turn; only its comparison and write do.
    with store.reading(args.db, on_wait=_waiting) as con:
        limit, default_tz = upload_settings(con)
    failed = 0
    for f in args.files:
        try:
            result = _load(args, f, profile, limit, default_tz)
        except IngestError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        except (RecursionError, UnicodeError) as exc:  # the file's content, named by the file
            failed += 1
            print(f"error: {Path(f).name}: {cli_errors.describe(exc)}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(result.to_dict(), default=str))
        else:
            print(result.summary())
            for w in result.warnings:
                print(f"  warning: {w}")
            for raw, n in result.unmapped_severities.items():
                print(f"  unmapped severity: '{raw}' on {n:,} tickets")
            if result.tickets_older and not result.replace_newer:
                print("  note: the data-quality check 'Older than the stored version' lists them; "
                      "--replace-newer loads them over the stored version on purpose")
    return 1 if failed else 0


def _load(args, f, profile, limit: int, default_tz: str):
    try:
        staged = stage_file(f, source=args.source, profile=profile, tz=args.tz, max_bytes=limit,
                            delimiter=args.delimiter, default_tz=default_tz)
    except KeyboardInterrupt:
        print(f"interrupted: {Path(f).name} was not stored", file=sys.stderr)
        raise
    with staged, store.writing(args.db, on_wait=_waiting) as con:
        stored = _uploads(con)
        try:
            return apply_staged(con, staged, uploaded_by=_operator(), replace_newer=args.replace_newer)
        except KeyboardInterrupt:
            # The commit may have happened just before the Ctrl-C: say what the store holds.
            done = _uploads(con) > stored
            print(f"interrupted: {Path(f).name} was {'stored' if done else 'not stored'}", file=sys.stderr)
            raise


def _uploads(con) -> int:
    return con.cursor().execute("SELECT count(*) FROM datasets").fetchall()[0][0]


def cmd_tickets(args) -> int:
    from .tickets_export import tickets_frame, to_json_records

    frame = tickets_frame(args.con)
    return _emit(args, frame, to_json_records(frame) if args.json else None, frame)


def _emit(args, frame, records: list | None, csv_frame) -> int:
    """Print a result as CSV (formula-safe), JSON records, or a readable table."""
    from .csv_export import to_csv_bytes

    if getattr(args, "csv", False):
        sys.stdout.buffer.write(to_csv_bytes(csv_frame))
    elif args.json:
        json.dump(records, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(frame.to_string(max_rows=50) + "\n")
    return 0


def cmd_demo(args) -> int:
    from .demo_loader import DEMO_OPERATOR, load_demo

    con = args.con
    for r in load_demo(con, n_tickets=args.tickets, seed=args.seed, actor=DEMO_OPERATOR):
        print(r.summary())
    return 0


def cmd_profiles(_args) -> int:
    for p in all_profiles():
        print(f"{p.source.name:28} {p.source.layout:10} {p.source.description}")
    return 0


def cmd_sla(args) -> int:
    from datetime import datetime, timezone

    from .filters import Filters
    from .sla_engine import evaluate, iso_frame, to_json_records
    from .sla_policy import PolicyError

    con = args.con
    filters = Filters(date_from=args.date_from, date_to=args.date_to)
    clause, params = filters.where()
    as_of = args.as_of or datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        if args.summary:
            return _sla_summary(args, con, filters, as_of)
        frame = evaluate(con, as_of=as_of, where=clause, params=params)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _emit(args, frame, to_json_records(frame) if args.json else None,
                 iso_frame(frame) if args.csv else None)


def cmd_sla_agreement(args) -> int:
    from datetime import datetime, timezone

    from . import sla_agreement as agr
    from .csv_export import to_csv_bytes
    from .filters import Filters
    from .sla_policy import PolicyError

    as_of = args.as_of or datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        summary, rows = agr.agreement(args.con, Filters(date_from=args.date_from, date_to=args.date_to),
                                      as_of)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.buffer.write(to_csv_bytes(agr.iso_frame(rows)))
    elif args.json:
        json.dump({"as_of": f"{as_of:%Y-%m-%dT%H:%M:%SZ}", "definition": agr.DEFINITION,
                   "summary": agr.records(summary), "disagreements": agr.records(rows)}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"As of {as_of:%Y-%m-%d %H:%M} UTC. {agr.DEFINITION}")
        print(agr.summary_view(summary).to_string(index=False))
        print(f"{len(rows):,} tickets disagree or have no Hypercare verdict (--csv lists them).")
    return 0


def _sla_summary(args, con, filters, as_of) -> int:
    from .kpi_trends import period_of
    from .sla_compliance import compliance_table, counts
    from .sla_policy import policies, policy_in_force, untargeted

    period = period_of(con, filters, as_of)
    policy = policy_in_force(policies(con), as_of.date())
    table = compliance_table(counts(con, filters, period, split="severity"), policy.compliance_target_pct,
                             untargeted(policy))
    stamp = {"period_start": period.start.isoformat() + "Z", "period_end": period.end.isoformat() + "Z",
             "open_breached_at": period.observed_end.isoformat() + "Z", "as_of": as_of.isoformat() + "Z"}
    records = [{**stamp, **{k: (None if v != v else v) for k, v in r.items()}} for r in table.to_dict("records")]
    return _emit(args, table, records, table)


def cmd_kpis(args) -> int:
    from .filters import Filters
    from .kpi_trends import cli_table

    con = args.con
    severities = tuple(v.strip() for v in (args.severity or "").split(",") if v.strip())
    filters = Filters(date_from=args.date_from, date_to=args.date_to, severity=severities)
    rows = cli_table(con, filters, args.kpi_as_of, by=args.by)
    if args.json:
        json.dump(rows, sys.stdout, default=str)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        shown = {k: v for k, v in row.items() if k != "excluded"}
        print("  ".join(f"{k}={'n/a' if v is None else v}" for k, v in shown.items()))
        for kpi, info in row["excluded"].items():
            print(f"    {kpi}: " + "; ".join(f"{label}: {n}" for label, n in info.items()))
    return 0


def cmd_recurrence(args) -> int:
    from .filters import Filters
    from .recurrence import clusters
    from .recurrence_charts import to_json_records

    con = args.con
    try:
        frame = clusters(con, Filters(date_from=args.date_from, date_to=args.date_to),
                         threshold=args.threshold, min_tickets=args.min_tickets)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(to_json_records(frame), sys.stdout)
        sys.stdout.write("\n")
    else:
        cols = ["cluster_id", "tickets", "first_seen", "last_seen", "service", "label"]
        sys.stdout.write(frame[cols].to_string(max_rows=50, max_colwidth=70) + "\n")
    return 0


def cmd_closure(args) -> int:
    from .closure import cli_records
    from .closure_rules import ClosureRulesError

    try:
        rows = cli_records(args.con, args.closure_as_of)
    except ClosureRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(rows, sys.stdout)
        sys.stdout.write("\n")
        return 0
    if rows:
        print(f"Closure criteria as of {rows[0]['as_of']}")
    for r in rows:
        print(f"{r['status'].upper():15} {r['criterion']} ({r['evidence_count']:,} evidence rows)")
        print(f"{'':15} {r['detail']}")
    return 0


def cmd_report(args) -> int:
    from .report import build, month_range, split_values
    from .report_pack import to_csv_zip, to_xlsx
    from .report_pdf import build_pdf

    kind = args.format or {".xlsx": "xlsx", ".zip": "csv", ".csv": "csv"}.get(Path(args.out).suffix.lower(), "pdf")
    options = {"severity": split_values(args.severity), "service": split_values(args.service),
               "team": split_values(args.team), "as_of": args.report_as_of}
    try:
        month_range(args.month)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    con = args.con
    if kind == "pdf":
        report, data, chart_error = build_pdf(con, args.month, **options)
        if chart_error:
            print(f"warning: charts not drawn ({chart_error}); the PDF has their text and data", file=sys.stderr)
    else:
        report = build(con, args.month, **options)
        data = to_csv_zip(report) if kind == "csv" else to_xlsx(report)
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out} ({kind}, {len(data):,} bytes): {report.caption.removeprefix('Filters: ')}; as of "
          f"{report.as_of:%Y-%m-%d %H:%M} UTC; inputs fingerprint {report.fingerprint}")
    return 0


WRITING = ("demo",)  # ingest takes its own turns (cmd_ingest); the other commands only read the store


def _waiting() -> None:
    print("waiting for the store: another process is using it…", file=sys.stderr)


@contextmanager
def _store(args):
    """The store for this command: read-write for the length of a writing command, read-only
    otherwise; either waits its turn while another process writes (analytics/store.py)."""
    if args.command in ("profiles", "engagements", "ingest"):
        yield None
        return
    opener = store.writing if args.command in WRITING else store.reading
    with opener(args.db, on_wait=_waiting) as con:
        yield con


COMMANDS = {"ingest": cmd_ingest, "tickets": cmd_tickets, "demo": cmd_demo, "profiles": cmd_profiles,
            "sla": cmd_sla, "sla-agreement": cmd_sla_agreement, "kpis": cmd_kpis, "recurrence": cmd_recurrence, "closure": cmd_closure,
            "report": cmd_report, "engagements": cli_engagements.cmd_engagements}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code, never a traceback."""
    args = _parser().parse_args(argv)
    try:
        args.db = cli_engagements.store_for(args) or getattr(args, "db", None)
        with cli_errors.interruptible(), _store(args) as args.con:
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted: stopped; nothing half-written was kept (an upload is all or nothing)",
              file=sys.stderr)
        return 130
    except EngagementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `… | head` closed the pipe: nothing more to say
        sys.stderr.close()
        return 0
    except Exception as exc:
        print(f"error: {cli_errors.describe(exc)}", file=sys.stderr)
        if os.environ.get("HYPERCARE_DEBUG"):
            raise
        return cli_errors.exit_code(exc)
