"""Command line for scripts and scheduled jobs: `python -m analytics --help`."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from analytics import cli_engagements, cli_errors, cli_sync, uploads
from analytics.charts import recurrence as recurrence_charts
from analytics.cli_engagements import waiting
from analytics.cli_parser import parser as _parser
from analytics.demo import loader
from analytics.governance import closure, closure_rules
from analytics.ingest import tickets_export
from analytics.ingest.profiles import ProfileError, all_profiles, load_profile
from analytics.ingest.stage import IngestError, stage_file, upload_settings
from analytics.kpi import trends
from analytics.kpi.facts import period_of
from analytics.recurrence import clustering
from analytics.report import builder, pack, pdf
from analytics.sla import agreement, compliance, engine
from analytics.sla import policy as sla_policy
from analytics.store import csv_export, sharing
from analytics.store.engagements import EngagementError
from analytics.store.filters import Filters

log = logging.getLogger(__name__)
# The traceback of a failed command goes to whatever logging the caller set up (a scheduled job's),
# not to the terminal: without a handler here, logging's last resort would print it to stderr.
log.addHandler(logging.NullHandler())


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
    with sharing.reading(args.db, on_wait=waiting) as con:
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
    with staged, sharing.writing(args.db, on_wait=waiting) as con:
        stored = _uploads(con)
        try:
            return uploads.apply(con, staged, uploaded_by=cli_engagements.operator(),
                                 replace_newer=args.replace_newer)
        except KeyboardInterrupt:
            # The commit may have happened just before the Ctrl-C: say what the store holds.
            done = _uploads(con) > stored
            print(f"interrupted: {Path(f).name} was {'stored' if done else 'not stored'}", file=sys.stderr)
            raise


def _uploads(con) -> int:
    return con.cursor().execute("SELECT count(*) FROM datasets").fetchall()[0][0]


def cmd_tickets(args) -> int:
    frame = tickets_export.tickets_frame(args.con)
    return _emit(args, frame, tickets_export.to_json_records(frame) if args.json else None, frame)


def _emit(args, frame, records: list | None, csv_frame) -> int:
    """Print a result as CSV (formula-safe), JSON records, or a readable table."""
    if getattr(args, "csv", False):
        sys.stdout.buffer.write(csv_export.to_csv_bytes(csv_frame))
    elif args.json:
        json.dump(records, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(frame.to_string(max_rows=50) + "\n")
    return 0


def cmd_demo(args) -> int:
    con = args.con
    for r in loader.load_demo(con, n_tickets=args.tickets, seed=args.seed, actor=loader.DEMO_OPERATOR):
        print(r.summary())
    return 0


def cmd_profiles(_args) -> int:
    for p in all_profiles():
        print(f"{p.source.name:28} {p.source.layout:10} {p.source.description}")
    return 0


def cmd_sla(args) -> int:
    con = args.con
    filters = Filters(date_from=args.date_from, date_to=args.date_to)
    clause, params = filters.where()
    as_of = args.as_of or datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        if args.summary:
            return _sla_summary(args, con, filters, as_of)
        frame = engine.evaluate(con, as_of=as_of, where=clause, params=params)
    except sla_policy.PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _emit(args, frame, engine.to_json_records(frame) if args.json else None,
                 engine.iso_frame(frame) if args.csv else None)


def cmd_sla_agreement(args) -> int:
    as_of = args.as_of or datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        summary, rows = agreement.agreement(args.con, Filters(date_from=args.date_from, date_to=args.date_to),
                                                as_of)
    except sla_policy.PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.buffer.write(csv_export.to_csv_bytes(engine.iso_frame(rows)))
    elif args.json:
        json.dump({"as_of": f"{as_of:%Y-%m-%dT%H:%M:%SZ}", "definition": agreement.DEFINITION,
                   "summary": engine.to_json_records(summary), "disagreements": engine.to_json_records(rows)},
                  sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"As of {as_of:%Y-%m-%d %H:%M} UTC. {agreement.DEFINITION}")
        print(agreement.summary_view(summary).to_string(index=False))
        print(f"{len(rows):,} tickets disagree or have no Hypercare verdict (--csv lists them).")
    return 0


def _sla_summary(args, con, filters, as_of) -> int:
    period = period_of(con, filters, as_of)
    policy = sla_policy.policy_in_force(sla_policy.policies(con), as_of.date())
    table = compliance.compliance_table(compliance.counts(con, filters, period, split="severity"),
                                            policy.compliance_target_pct, sla_policy.untargeted(policy))
    stamp = {"period_start": period.start.isoformat() + "Z", "period_end": period.end.isoformat() + "Z",
             "open_breached_at": period.observed_end.isoformat() + "Z", "as_of": as_of.isoformat() + "Z"}
    records = [{**stamp, **{k: (None if v != v else v) for k, v in r.items()}} for r in table.to_dict("records")]
    return _emit(args, table, records, table)


def cmd_kpis(args) -> int:
    con = args.con
    severities = tuple(v.strip() for v in (args.severity or "").split(",") if v.strip())
    filters = Filters(date_from=args.date_from, date_to=args.date_to, severity=severities)
    rows = trends.cli_table(con, filters, args.kpi_as_of, by=args.by)
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
    con = args.con
    try:
        frame = clustering.clusters(con, Filters(date_from=args.date_from, date_to=args.date_to),
                         threshold=args.threshold, min_tickets=args.min_tickets)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(recurrence_charts.to_json_records(frame), sys.stdout)
        sys.stdout.write("\n")
    else:
        cols = ["cluster_id", "tickets", "first_seen", "last_seen", "service", "label"]
        sys.stdout.write(frame[cols].to_string(max_rows=50, max_colwidth=70) + "\n")
    return 0


def cmd_closure(args) -> int:
    try:
        rows = closure.cli_records(args.con, args.closure_as_of)
    except closure_rules.ClosureRulesError as exc:
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
    kind = args.format or {".xlsx": "xlsx", ".zip": "csv", ".csv": "csv"}.get(Path(args.out).suffix.lower(), "pdf")
    options = {"severity": builder.split_values(args.severity), "service": builder.split_values(args.service),
               "team": builder.split_values(args.team), "as_of": args.report_as_of}
    try:
        builder.month_range(args.month)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    con = args.con
    if kind == "pdf":
        built, data, chart_error = pdf.build_pdf(con, args.month, **options)
        if chart_error:
            print(f"warning: charts not drawn ({chart_error}); the PDF has their text and data", file=sys.stderr)
    else:
        built = builder.build(con, args.month, **options)
        data = pack.to_csv_zip(built) if kind == "csv" else pack.to_xlsx(built)
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out} ({kind}, {len(data):,} bytes): {built.caption.removeprefix('Filters: ')}; as of "
          f"{built.as_of:%Y-%m-%d %H:%M} UTC; inputs fingerprint {built.fingerprint}")
    return 0


WRITING = ("demo",)  # ingest and sync take their own turns; the other commands only read the store


@contextmanager
def _store(args):
    """The store for this command: read-write for the length of a writing command, read-only
    otherwise; either waits its turn while another process writes (analytics/store/sharing.py)."""
    if args.command in ("profiles", "engagements", "ingest", "sync"):
        yield None
        return
    opener = sharing.writing if args.command in WRITING else sharing.reading
    with opener(args.db, on_wait=waiting) as con:
        yield con


COMMANDS = {"ingest": cmd_ingest, "tickets": cmd_tickets, "demo": cmd_demo, "profiles": cmd_profiles,
            "sla": cmd_sla, "sla-agreement": cmd_sla_agreement, "kpis": cmd_kpis, "recurrence": cmd_recurrence, "closure": cmd_closure,
            "report": cmd_report, "engagements": cli_engagements.cmd_engagements, "sync": cli_sync.cmd_sync}


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
    except Exception as exc:  # broad on purpose: the terminal gets one line, never a traceback
        log.exception("%s failed", args.command)
        print(f"error: {cli_errors.describe(exc)}", file=sys.stderr)
        if os.environ.get("HYPERCARE_DEBUG"):
            raise
        return cli_errors.exit_code(exc)
