"""The command line's arguments: every command, its options and how their values are read."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta, timezone

from analytics.store import time_range
from analytics.store.time_range import RANGE_TEXT

SOURCES = ("auto", "servicenow", "jira", "pagerduty", "statuspage", "generic")
LIVE_SOURCES = ("servicenow", "jira", "pagerduty", "statuspage")  # analytics.connectors.sync.CONNECTORS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description="Hypercare incident analytics.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--db", help="the installation's catalog, or one engagement's store file "
                                     "(default: $HYPERCARE_DB or data/hypercare.duckdb)")
        sp.add_argument("--engagement", metavar="SLUG",
                        help="the engagement (default: $HYPERCARE_ENGAGEMENT, else the only one); docs/engagements.md")
        return sp

    ing = with_db(sub.add_parser("ingest", help="load ticket exports into the store"))
    ing.add_argument("files", nargs="+", metavar="FILE")
    ing.add_argument("--source", choices=SOURCES, default="auto", help="restrict detection to one vendor")
    ing.add_argument("--profile", help="a mapping profile TOML file, or the name of a saved/built-in one")
    ing.add_argument("--tz", help="time zone for timestamps without an offset (IANA name)")
    ing.add_argument("--delimiter", help="CSV delimiter when detection gets it wrong: , ; tab |")
    ing.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    ing.add_argument("--create", action="store_true", help="create the --engagement first when it does not exist")
    ing.add_argument("--name", help="with --create: the engagement's name (default: its slug)")
    ing.add_argument("--go-live", type=_day, help="with --create: the go-live date, YYYY-MM-DD")
    ing.add_argument("--replace-newer", action="store_true",
                     help="load tickets whose stored version is newer than the file's over it, on purpose (e.g. to "
                          "undo a bad upload); by default they keep the stored version and are counted and listed")

    syn = with_db(sub.add_parser("sync", help="pull the configured live sources (docs/connectors.md); one JSON "
                                            "object per source on stdout"))
    syn.add_argument("--source", choices=LIVE_SOURCES, help="only this source (default: every configured one)")
    syn.add_argument("--full", action="store_true",
                     help="read everything again, not only what changed since the last sync (catches edits a "
                          "source does not report as changes, e.g. a PagerDuty title; docs/connectors.md)")

    tick = with_db(sub.add_parser("tickets", help="print the canonical tickets"))
    fmt = tick.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    demo = with_db(sub.add_parser("demo", help="generate and load seeded demo data"))
    demo.add_argument("--tickets", type=int, default=5000)
    demo.add_argument("--seed", type=int, default=42)

    sub.add_parser("profiles", help="list the mapping profiles (built-in and saved)")

    eng = sub.add_parser("engagements", help="list, create or delete engagements (one go-live each)")
    eng.add_argument("--db", help="the installation's catalog (default: $HYPERCARE_DB or data/hypercare.duckdb)")
    eng_sub = eng.add_subparsers(dest="action")

    def with_catalog(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        # SUPPRESS: a --db given before the action is not overwritten by this one's default.
        sp.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    with_catalog(eng_sub.add_parser("list", help="the engagements (the default action)")).add_argument(
        "--json", action="store_true")
    make = with_catalog(eng_sub.add_parser("create", help="a new engagement with a store of its own"))
    make.add_argument("slug")
    make.add_argument("--name", help="its name (default: the slug)")
    make.add_argument("--go-live", type=_day, help="the go-live date, YYYY-MM-DD")
    make.add_argument("--tz", default="UTC", help="its time zone (IANA name, default UTC)")
    make.add_argument("--window-days", type=int, default=14, help="the hypercare window in days (default 14)")
    make.add_argument("--cadence", default="weekly", help="review cadence: daily, weekly, fortnightly, monthly")
    make.add_argument("--copy-from", metavar="SLUG", help="start from this engagement's settings and SLA policies")
    drop = with_catalog(eng_sub.add_parser("delete", help="remove an engagement (its store is kept in a deleted/ folder)"))
    drop.add_argument("slug")

    sla = with_db(sub.add_parser("sla", help="SLA status of each ticket (response and resolution clocks)"))
    sla.add_argument("--from", dest="date_from", type=_day, help="first opened day, YYYY-MM-DD (inclusive)")
    sla.add_argument("--to", dest="date_to", type=_day, help="last opened day, YYYY-MM-DD (inclusive)")
    sla.add_argument("--as-of", type=_instant, help="evaluation time, ISO 8601 (naive = UTC; default: now)")
    sla.add_argument("--summary", action="store_true",
                     help="compliance per clock and severity instead of one record per ticket: the clocks that "
                          "stopped in the period (--from/--to, default: the data's span), open and breached beside")
    sla_fmt = sla.add_mutually_exclusive_group()
    sla_fmt.add_argument("--json", action="store_true")
    sla_fmt.add_argument("--csv", action="store_true")

    agr = with_db(sub.add_parser("sla-agreement", help="Hypercare's resolution SLA verdict against the source's own"))
    agr.add_argument("--from", dest="date_from", type=_day, help="first opened day, YYYY-MM-DD (inclusive)")
    agr.add_argument("--to", dest="date_to", type=_day, help="last opened day, YYYY-MM-DD (inclusive)")
    agr.add_argument("--as-of", type=_instant, help="evaluation time, ISO 8601 (naive = UTC; default: now)")
    agr_fmt = agr.add_mutually_exclusive_group()
    agr_fmt.add_argument("--json", action="store_true", help="summary and disagreements as one JSON object")
    agr_fmt.add_argument("--csv", action="store_true", help="the disagreeing tickets as CSV")

    kpi = with_db(sub.add_parser("kpis", help="KPIs (MTTA, MTTR, MTTD, MTBF, availability, SLA, reopen rate)"))
    kpi.add_argument("--from", dest="date_from", type=_day, help="first opened day, YYYY-MM-DD (inclusive)")
    kpi.add_argument("--to", dest="date_to", type=_day, help="last opened day, YYYY-MM-DD (inclusive)")
    kpi.add_argument("--severity", help="comma-separated severities, e.g. SEV-1,SEV-2")
    kpi.add_argument("--by", choices=("severity", "service", "team", "month", "week"), help="one row per group")
    kpi.add_argument("--as-of", dest="kpi_as_of", type=_instant, help="as-of time, ISO 8601 (naive = UTC; default: now)")
    kpi.add_argument("--json", action="store_true", help="a JSON list of objects")

    rec = with_db(sub.add_parser("recurrence", help="clusters of similar tickets that keep coming back"))
    rec.add_argument("--from", dest="date_from", type=_day, help="first opened day, YYYY-MM-DD (inclusive)")
    rec.add_argument("--to", dest="date_to", type=_day, help="last opened day, YYYY-MM-DD (inclusive)")
    rec.add_argument("--threshold", type=float, help="title similarity 0-1 (default: setting or 0.85)")
    rec.add_argument("--min-tickets", type=int, default=2, help="only clusters with at least this many tickets")
    rec.add_argument("--json", action="store_true", help="a JSON list of clusters")

    clo = with_db(sub.add_parser("closure", help="hypercare closure criteria: pass / fail / at risk / not measurable"))
    clo.add_argument("--as-of", dest="closure_as_of", type=_as_of_day,
                     help="YYYY-MM-DD (= the end of that day, UTC) or an ISO 8601 time (naive = UTC; default: now)")
    clo.add_argument("--json", action="store_true", help="a JSON list of objects")

    rep = with_db(sub.add_parser("report", help="the monthly governance report: PDF, or its data pack (CSV zip, XLSX)"))
    rep.add_argument("--month", required=True, help="the month, YYYY-MM (its tickets by opened_at, UTC)")
    rep.add_argument("--severity", help="comma-separated severities, e.g. SEV-1,SEV-2")
    rep.add_argument("--service", help="comma-separated services")
    rep.add_argument("--team", help="comma-separated teams")
    rep.add_argument("--as-of", dest="report_as_of", type=_instant,
                     help="as-of time, ISO 8601 (naive = UTC; default: the end of the month, or now if earlier)")
    rep.add_argument("--out", required=True, help="the file to write")
    rep.add_argument("--format", choices=("pdf", "csv", "xlsx"),
                     help="pdf, csv (a zip of CSV files) or xlsx (default: from --out's suffix, else pdf)")
    return p


def _as_of_day(value: str):
    """A bare date means the end of that day (everything on it counts); a time is taken as is."""
    moment = _instant(value)
    return _in_range(moment + timedelta(days=1) if len(value.strip()) == 10 else moment)


def _day(value: str):
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from exc
    _in_range(datetime.combine(day, datetime.min.time()))
    return day


def _instant(value: str):
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from exc
    try:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: outside the range Hypercare accepts: {RANGE_TEXT}") from exc
    return _in_range(moment)


def _in_range(moment):
    try:
        return time_range.check(moment)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
