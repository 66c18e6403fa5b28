"""The monthly governance report: its content gathered once, then rendered as PDF or data pack.

`build(con, "2026-10", ...)` collects every figure into a `Report`: a cover and sections of
text, tables and charts in the order the PDF shows them. analytics/report/pdf.py draws it,
analytics/report/pack.py writes the CSV zip and the XLSX workbook from the same object, so the
three outputs can never disagree.

Reproducible: the figures depend only on the store's content, the month, the filters and the
as-of time. The as-of time defaults to the end of the month (or now, for a month not yet over),
and the cover's *inputs fingerprint* hashes everything that determines the figures (dataset
hashes, a content hash of the stored tickets, history and clusters, policy versions, settings,
sign-offs, month, filters, as-of), so two reports with the same fingerprint hold the same
numbers (built by the same code: the cover names the code version too).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from time import perf_counter

import duckdb
import pandas as pd

from analytics.governance import closure
from analytics.report import governance as gov
from analytics.report import sections as sec
from analytics.report import summary as summ
from analytics.report.model import Block, Report, Section, Table, Text
from analytics.sla import policy
from analytics.store import db, engagements
from analytics.store.filters import Filters, count_tickets
from analytics.store.periods import normalise_as_of, utc_now
from analytics.store.row_hash import row_sql

REPORT_FORMAT = 1  # bump when the report's layout or content changes
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Settings that never change a figure (upload limit, first-start flag, who may sign in): left
# out of the fingerprint, so changing them does not make two equal reports look different.
_NOT_FIGURES = ("max_upload_mb", "demo_autoloaded", "auth_", "audit_")


# --- parameters -------------------------------------------------------------------------


def month_range(month: str) -> tuple[date, date]:
    """"2026-10" -> (1 Oct 2026, 31 Oct 2026); ValueError with a readable message otherwise."""
    m = _MONTH.match(str(month).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month YYYY-MM: {month!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def split_values(text: str | None) -> tuple[str, ...]:
    """"SEV-1, SEV-2" -> ("SEV-1", "SEV-2"): the CLI's comma-separated filter values."""
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


def month_filters(month: str, severity=(), service=(), team=()) -> Filters:
    """The report's filters: the month as the date range (opened_at), plus the given values."""
    start, end = month_range(month)
    return Filters(date_from=start, date_to=end, severity=tuple(severity), service=tuple(service),
                   team=tuple(team))


def default_as_of(month: str, now: datetime | None = None) -> datetime:
    """The end of the month (its last instant's next midnight, UTC); now, if that is later."""
    end = datetime.combine(month_range(month)[1] + timedelta(days=1), time.min)
    return min(end, normalise_as_of(now) if now else utc_now()).replace(microsecond=0)


@lru_cache(maxsize=1)
def tool_version() -> str:
    """"Hypercare report format 1, code 1a2b3c4d5e6f" (the git commit when there is one)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"Hypercare report format {REPORT_FORMAT}, code {out or 'unknown (not a git checkout)'}"


# --- inputs -----------------------------------------------------------------------------


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.cursor().execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $table", {"table": table}).fetchall()[0][0])


def datasets_used(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Every upload the store's figures rest on, oldest first: ticket exports (with how many of
    this report's tickets each one wrote or gave history to) and PIR registers."""
    clause, params = filters.where("t")
    # A ticket counts for every upload that wrote its row or part of its status history.
    out = con.cursor().execute(
        f"""WITH f AS (SELECT ticket_id, dataset_id FROM tickets t WHERE {clause}),
        used AS (SELECT dataset_id, ticket_id FROM f UNION
                 SELECT h.dataset_id, h.ticket_id FROM status_history h SEMI JOIN f USING (ticket_id)),
        n AS (SELECT dataset_id, count(*) AS tickets FROM used GROUP BY 1)
        SELECT 'tickets' AS kind, d.dataset_id AS id, d.file_name, d.source, d.rows_read,
               d.rows_loaded, d.uploaded_at, d.uploaded_by, d.sha256,
               coalesce(n.tickets, 0)::BIGINT AS tickets_in_report
        FROM datasets d LEFT JOIN n USING (dataset_id) ORDER BY d.dataset_id""", params).df()
    if _table_exists(con, "pir_registers"):
        pir = con.cursor().execute(
            "SELECT 'PIR register' AS kind, register_id AS id, file_name, 'pir' AS source, rows_read, "
            "rows_loaded, uploaded_at, uploaded_by, sha256, NULL::BIGINT AS tickets_in_report "
            "FROM pir_registers ORDER BY register_id").df()
        out = pd.concat([out, pir], ignore_index=True) if len(pir) else out
    return out


def figure_settings(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Settings that can change a figure (targets, outage severities, time zone, go-live,
    recurrence threshold, closure rules…), sorted by key."""
    rows = con.cursor().execute("SELECT key, value FROM settings ORDER BY key").fetchall()
    kept = [(k, v) for k, v in rows if not k.startswith(_NOT_FIGURES)]
    return pd.DataFrame(kept, columns=["key", "value"])


def policy_table(con: duckdb.DuckDBPyConnection, used: tuple[str, ...]) -> pd.DataFrame:
    """Every SLA policy version (saved, or the built-in seed when none is): effective date,
    whether this report's tickets were judged by it, and the sha256 of its TOML."""
    rows = [{"version": p.version, "effective_from": p.effective_from, "used_in_report": p.version in used,
             "sha256": hashlib.sha256(p.to_toml().encode("utf-8")).hexdigest()} for p in policy.policies(con)]
    return pd.DataFrame(rows, columns=["version", "effective_from", "used_in_report", "sha256"])


def _signoff_digest(con: duckdb.DuckDBPyConnection) -> str:
    if not _table_exists(con, "signoff_events"):
        return ""
    rows = con.cursor().execute("SELECT * FROM signoff_events ORDER BY event_id").fetchall()
    return hashlib.sha256(repr(rows).encode("utf-8")).hexdigest()


def store_digest(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Row count and an order-free content hash of the tables the figures are computed from, so
    an edit that bypassed the upload path (or a deletion) still changes the fingerprint."""
    out = {}
    cur = con.cursor()
    for table in ("tickets", "status_history", "recurrence_signatures"):
        # A stable hash of each row's canonical text, summed: equal content gives an equal digest
        # in any DuckDB version and whatever order upgrades added the columns in (read by name).
        fields = cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $table "
                             "AND table_catalog = current_database() AND table_schema = 'main' ORDER BY 1",
                             {"table": table}).fetchall()
        n, total = cur.execute(f"SELECT count(*), sum({row_sql(fields)}::HUGEINT) FROM {table}").fetchall()[0]
        out[table] = [str(n), str(total or 0)]
    return out


def fingerprint(datasets: pd.DataFrame, policies: pd.DataFrame, settings: pd.DataFrame, signoffs: str,
                month: str, filters: Filters, as_of: datetime, store: dict | None = None) -> str:
    """sha256 over everything that determines the report's figures (see the module docstring)."""
    payload = {
        "store": store or {},
        "datasets": [[k, s] for k, s in zip(datasets["kind"], datasets["sha256"], strict=True)],
        "policies": [[v, str(e), s] for v, e, s in zip(policies["version"], policies["effective_from"],
                                                       policies["sha256"], strict=True)],
        "settings": [[k, v] for k, v in zip(settings["key"], settings["value"], strict=True)],
        "signoffs": signoffs, "month": month, "filters": filters.to_query_params(),
        "as_of": as_of.isoformat(), "format": REPORT_FORMAT,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


# --- the report -------------------------------------------------------------------------


def engagement_of(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """The (name, description) of the engagement whose store `con` is; ("", "") for a store
    that names none (made before engagements, or by a test)."""
    values = db.get_settings(con, [engagements.SLUG_SETTING, engagements.NAME_SETTING])
    slug = values.get(engagements.SLUG_SETTING)
    if not slug:
        return "", ""
    name = values.get(engagements.NAME_SETTING) or slug
    d = engagements.details("", con=con)
    window = (f"go-live {d.go_live:%d %b %Y}, hypercare window {d.window_days} days to {d.window_end:%d %b %Y}"
              if d.go_live is not None else "no go-live date set")
    return name, f"{name} ({slug}): {window}, time zone {d.timezone}; this report holds its data only"


def _provenance(filters: Filters, as_of: datetime, n_tickets: int, versions: tuple[str, ...],
                datasets: pd.DataFrame, policies: pd.DataFrame, settings: pd.DataFrame,
                digest: str, engagement: str = "") -> Section:
    start, end = filters.date_from, filters.date_to
    facts = [("Engagement", engagement)] if engagement else []
    facts += [
        ("Period", f"{start:%d %b %Y} – {end:%d %b %Y} (tickets opened in the month, UTC)"),
        ("As of", f"{as_of:%Y-%m-%d %H:%M} UTC (open clocks and backlogs are measured at this time)"),
        ("Filters", filters.caption(n_tickets).removeprefix("Filters: ")),
        ("SLA policy versions used", ", ".join(versions) or "none (no ticket was judged)"),
        ("Datasets", f"{len(datasets):,} (listed below with their sha256)"),
        ("Generated by", tool_version()),
        ("Inputs fingerprint", digest),
    ]
    cover = pd.DataFrame(facts, columns=["item", "value"])
    ds_view = pd.DataFrame({
        "file": datasets["file_name"], "kind": datasets["kind"],
        "rows": [f"{int(r):,}" for r in datasets["rows_loaded"]],
        "in report": ["–" if pd.isna(n) else f"{int(n):,}" for n in datasets["tickets_in_report"]],
        "sha256": datasets["sha256"]})
    blocks: list[Block] = [
        Table("summary", "Report", cover, widths=(1, 3.2)),
        Text("The inputs fingerprint is the sha256 of the dataset hashes, a content hash of the stored "
             "tickets, status history and recurrence clusters, the SLA policy versions, the settings listed "
             "below, the sign-offs, the month, the filters and the as-of time: two reports with the same "
             "fingerprint (and code version) were built from the same inputs and hold the same figures.",
             "note"),
        Table("datasets", "Datasets used (ticket exports and PIR registers)", datasets, view=ds_view,
              widths=(2.0, 0.8, 0.8, 0.8, 5.6)),
        Table("policies", "SLA policy versions", policies, view=policies.set_axis(
            ["version", "effective from", "used in this report", "sha256 of the policy (TOML)"], axis=1),
            widths=(1.8, 1.1, 0.9, 5.4)),
        Table("settings", "Settings that affect the figures", settings, widths=(1.4, 3)),
    ]
    return Section("provenance", "Provenance: inputs, datasets, policies and settings", tuple(blocks))


GATHER_WORKERS = 1  # >1: sections side by side; no clear gain measured on 2 cores (DuckDB uses both)


def build(con: duckdb.DuckDBPyConnection, month: str, *, severity=(), service=(), team=(),
          as_of: datetime | None = None, timings: dict[str, float] | None = None,
          workers: int = GATHER_WORKERS) -> Report:
    """Gather the monthly report for `month` ("YYYY-MM") and the filters (see the module doc).

    Independent sections are gathered in `workers` threads, each query on its own cursor.
    `timings`, when given, receives the seconds each part took (for bench/report.py)."""
    clock = _Stopwatch(timings)
    filters = month_filters(month, severity, service, team)
    as_of = normalise_as_of(as_of) if as_of is not None else default_as_of(month)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        def run(name: str, fn, *args):
            return pool.submit(clock, name, fn, *args)

        # Slowest first, so the pool is never left waiting on one long part at the end.
        kpis, sla = run("kpis", sec.kpi_section, con, filters, as_of), run("sla", sec.sla_section, con, filters, as_of)
        later = {"card": run("closure", closure.evaluate, con, as_of, filters),
                 "recurrence": run("recurrence", sec.recurrence_section, con, filters),
                 "pir": run("pir", gov.pir_section, con, filters, as_of),
                 "defects": run("defects", gov.defect_section, con, filters, as_of),
                 "datasets": run("datasets", datasets_used, con, filters),
                 "store": run("store digest", store_digest, con)}
        sla_section, sla_weekly, versions = sla.result()
        trends = run("trends", sec.trends_section, con, filters, as_of, sla_weekly)
        kpi_section, results, no_change = kpis.result()
        card = later["card"].result()
        summary = run("summary", summ.summary_section, con, filters, as_of, results, card, no_change)
        done = {k: f.result() for k, f in later.items()}
    n = count_tickets(con, filters)
    datasets, policies, settings = done["datasets"], policy_table(con, versions), figure_settings(con)
    digest = fingerprint(datasets, policies, settings, _signoff_digest(con), month, filters, as_of, done["store"])
    name, described = engagement_of(con)
    sections = (
        summary.result(), kpi_section, sla_section, trends.result(), done["recurrence"], done["pir"],
        done["defects"], gov.closure_section(con, filters, as_of, card), sec.appendix_section(results),
        _provenance(filters, as_of, n, versions, datasets, policies, settings, digest, described),
    )
    start, end = month_range(month)  # = the filters' dates (month_filters)
    return Report(month=month, start=start, end=end, as_of=as_of, filters=filters,
                  caption=filters.caption(n), tool_version=tool_version(), fingerprint=digest,
                  policy_versions=versions, sections=sections, kpis=results, engagement=name)


class _Stopwatch:
    def __init__(self, sink: dict[str, float] | None):
        self.sink = sink

    def __call__(self, name: str, fn, *args):
        start = perf_counter()
        try:
            return fn(*args)
        finally:
            if self.sink is not None:
                self.sink[name] = perf_counter() - start
