"""Applying a profile to a raw text table, in DuckDB: canonical tickets, history and rejects.

Everything here is set-based SQL over the staging table that `readers` created, so a file of a
million rows is one pass per step, never a Python loop per row. Values that come from the file
or the profile (null tokens, formats, map entries, messages) are bound parameters, named
(`$name`, one dict per statement: timeparse.bind); only column identifiers, quoted, are written
into the SQL text.

Temp tables made on the cursor: _cfg, _sevmap, _statmap (raw status → category and pause
reason), _typemap, _rows (one row per source
row with `_reason` set when it is rejected), and for event logs and history files _stage (one
row per ticket, canonical columns plus row_hash and version_at) and _hist (status history rows);
a tickets file's stage is a query (stage_tickets_query).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from analytics.ingest import normalise
from analytics.ingest.profiles import SEVERITY_GUESS_WARNING, Profile
from analytics.ingest.timeparse import TimestampGuess, bind, checked, guess_format, sql_parse
from analytics.store import row_hash, time_range
from analytics.store.schema import (
    BOOLEAN_FIELDS,
    DERIVED_TICKET_COLUMNS,
    INTEGER_FIELDS,
    RESOLVED_FROM_COLUMN,
    TICKET_COLUMNS,
    TIMESTAMP_FIELDS,
    UPDATED_FIELD,
    VERSION_TIME_FIELDS,
)

_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_TEXT_FIELDS = [c for c in TICKET_COLUMNS if c not in TIMESTAMP_FIELDS]
_CLOSEDISH = ("resolved", "closed")
SAMPLE_SIZE = 400


def qident(name: str) -> str:
    """A quoted SQL identifier (column names come from the file, so quotes are doubled)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Plan:
    """What a profile resolves to for one file: columns, formats, and what is missing."""

    columns: dict[str, str] = field(default_factory=dict)  # field -> source column or template
    missing: dict[str, str] = field(default_factory=dict)  # field -> what the profile asked for
    timestamps: dict[str, TimestampGuess] = field(default_factory=dict)
    severity_values: dict[str, str | None] = field(default_factory=dict)


# Slots for the first characters of the null tokens (see make_cfg); a profile with more
# distinct first characters than this skips the range test and always looks tokens up.
_TOKEN_SLOTS = 8


def _clean(expr: str) -> str:
    # Most values cannot be a null token: the length test and a byte-range test on the first
    # character (against the tokens' own first characters, bound in _cfg) keep the list lookup
    # off them; it was most of the cost. Only values with edge blanks pay for a trim.
    ranges = " OR ".join(f"({expr} >= _cfg.lo{i} AND {expr} < _cfg.hi{i})" for i in range(_TOKEN_SLOTS))
    return (f"CASE WHEN strlen({expr}) <= _cfg.k AND (_cfg.any_first OR {expr} < '!' OR {ranges}) "
            f"AND list_contains(_cfg.nulls, trim({expr})) THEN NULL "
            f"WHEN {expr} LIKE ' %' OR {expr} LIKE '% ' THEN trim({expr}) ELSE {expr} END")


def _text_expr(spec: str, params: dict[str, Any], name: str) -> str:
    """The cleaned text of source column (or template) `spec`; a template's literal pieces are
    bound into `params` as `$<name>_lit0`, `$<name>_lit2`, … (by their place in the template)."""
    parts = _TEMPLATE.split(spec)
    if len(parts) == 1:
        return _clean(qident(spec))
    # "{repo}-{id}": literal pieces alternate with column names; NULL if any column is missing.
    pieces = []
    for i, piece in enumerate(parts):
        if i % 2:
            pieces.append(_clean(qident(piece)))
        elif piece:
            pieces.append(bind(params, f"{name}_lit{i}", piece))
    return "(" + " || ".join(pieces) + ")"


def plan(cur, raw: str, header: list[str], profile: Profile, tz: str) -> Plan:
    """Resolve the profile against this file and guess any 'auto' timestamp formats."""
    p = Plan()
    for fld in profile.columns:
        resolved = profile.resolve(fld, header)
        if resolved is None:
            p.missing[fld] = ", ".join(profile.source_columns(fld))
        else:
            p.columns[fld] = resolved
    make_cfg(cur, profile)
    for fld in profile.mapped_timestamp_fields():
        col = p.columns.get(fld)
        if col is None:
            continue
        params: dict[str, Any] = {}
        expr = _text_expr(col, params, "v")
        # The file's head plus a reservoir sample of the whole column: a late "13/10" still
        # gets a say in day-first versus month-first without a full DISTINCT over the file.
        sample = [r[0] for r in cur.execute(
            f"SELECT DISTINCT v FROM (SELECT * FROM (SELECT {expr} AS v FROM {qident(raw)} CROSS JOIN _cfg "
            f"LIMIT {SAMPLE_SIZE}) UNION ALL SELECT * FROM (SELECT {expr} AS v FROM (SELECT * FROM {qident(raw)} "
            f"USING SAMPLE reservoir({SAMPLE_SIZE} ROWS) REPEATABLE (7)) CROSS JOIN _cfg)) WHERE v IS NOT NULL",
            params,
        ).fetchall()]
        fmt = profile.timestamp_format(fld)
        if fmt == "auto":
            p.timestamps[fld] = guess_format(cur, sample, fld, col)
        else:
            p.timestamps[fld] = checked(cur, fmt, sample, fld, col)
    sev_col = p.columns.get("severity")
    if sev_col:
        params = {}
        expr = _text_expr(sev_col, params, "v")
        values = [r[0] for r in cur.execute(
            f"SELECT DISTINCT v FROM (SELECT {expr} AS v FROM {qident(raw)} CROSS JOIN _cfg) WHERE v IS NOT NULL",
            params,
        ).fetchall()]
        p.severity_values = {v: normalise.severity(v, profile.severity_map) for v in sorted(values)}
    return p


def make_cfg(cur, profile: Profile) -> None:
    """_cfg: the profile's null tokens (bound once, joined into every cleaning expression)."""
    tokens = [t.strip() for t in profile.null_values]
    longest = max((len(t.encode()) for t in tokens), default=0) + 4
    firsts = sorted({t[0] for t in tokens if t})
    # [lo, hi) byte ranges, one per first character; unused slots are empty ranges.
    slots = [(c, chr(ord(c) + 1)) for c in firsts][:_TOKEN_SLOTS]
    slots += [("", "")] * (_TOKEN_SLOTS - len(slots))
    cols = ", ".join(f"$lo{i}::VARCHAR AS lo{i}, $hi{i}::VARCHAR AS hi{i}" for i in range(_TOKEN_SLOTS))
    params: dict[str, Any] = {"nulls": profile.null_values, "k": longest, "any_first": len(firsts) > _TOKEN_SLOTS}
    for i, (lo, hi) in enumerate(slots):
        params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _cfg AS SELECT $nulls::VARCHAR[] AS nulls, $k AS k, "
                f"$any_first AS any_first, {cols}", params)


RowsQuery = tuple[str, dict[str, Any]]  # (SELECT over the staging table, its named parameters)


def build_rows(cur, raw: str, profile: Profile, pl: Plan, tz: str, slim: bool = False) -> RowsQuery:
    """_rows: every source row with its mapped text, parsed timestamps and reject reason.

    Returns the query behind it. With slim=True only the columns the checks need are kept
    (__row, id, severity, status, type, reason); a tickets file's stage then reads the rest
    straight from the returned query instead of materialising a second full copy of the file.
    """
    make_cfg(cur, profile)
    # One dict for the whole query; each fragment names its values after its field (bind):
    # $f_<field>_lit<i>, $f_<field>_split, $t_<field>_fmt, $t_<field>_tz, $reason_….
    params: dict[str, Any] = {}
    inner = ["__row"]
    for fld, spec in pl.columns.items():
        expr = _text_expr(spec, params, "f_" + fld)
        if fld in profile.split:
            expr = f"nullif(trim(split_part({expr}, {bind(params, f'f_{fld}_split', profile.split[fld])}, 1)), '')"
        inner.append(f"{expr} AS {qident('f_' + fld)}")
    outer = ["*"]
    reasons: list[str] = []
    for fld, guess in pl.timestamps.items():
        f_col = qident("f_" + fld)
        parsed = sql_parse(f_col, guess.format, guess.has_offset, tz, params, "t_" + fld)
        outer.append(f"{parsed} AS {qident('t_' + fld)}")
    # Reject reasons, in the order a user would fix them.
    id_col = pl.columns.get("external_id", "")
    missing_id = bind(params, "reason_missing_id", f"missing ticket id (column '{id_col}')")
    reasons.append(f"CASE WHEN f_external_id IS NULL THEN {missing_id} END")
    required_time = "event_time" if profile.source.layout != "tickets" else "opened_at"
    if required_time in pl.columns:
        missing_time = bind(params, "reason_missing_time",
                            f"missing {required_time.replace('_', ' ')} (column '{pl.columns[required_time]}')")
        reasons.append(f"CASE WHEN {qident('f_' + required_time)} IS NULL THEN {missing_time} END")
    for fld, guess in pl.timestamps.items():
        fmt = "ISO 8601" if guess.format == "iso" else guess.format
        name = f"reason_{fld}"
        before = bind(params, f"{name}_value", f"column '{guess.column}': '")
        not_parsed = bind(params, f"{name}_format", f"' is not a timestamp in format {fmt}")
        reasons.append(
            f"CASE WHEN {qident('f_' + fld)} IS NOT NULL AND {qident('t_' + fld)} IS NULL "
            f"THEN {before} || {qident('f_' + fld)} || {not_parsed} END"
        )
        # Far-off dates (year 1, 9999) overflow the date arithmetic downstream: a rejected row.
        earliest = bind(params, f"{name}_earliest", time_range.EARLIEST)
        latest = bind(params, f"{name}_latest", time_range.LATEST)
        out_of_range = bind(params, f"{name}_range", f"' is outside the range Hypercare accepts, "
                                                     f"{time_range.RANGE_TEXT}")
        reasons.append(
            f"CASE WHEN NOT {qident('t_' + fld)} BETWEEN {earliest}::TIMESTAMP AND {latest}::TIMESTAMP "
            f"THEN {before} || {qident('f_' + fld)} || {out_of_range} END"
        )
    reason_sql = f"concat_ws('; ', {', '.join(reasons)})" if reasons else "''"
    query = (
        f"SELECT *, nullif({reason_sql}, '') AS _reason FROM ("
        f"SELECT {', '.join(outer)} FROM ("
        f"SELECT {', '.join(inner)} FROM {qident(raw)} CROSS JOIN _cfg))"
    )
    keep = "*"
    if slim:
        keep = ", ".join(["__row", "f_external_id", "_reason"]
                         + [f"f_{f}" for f in ("severity", "priority_raw", "status", "type") if f in pl.columns])
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _rows AS SELECT {keep} FROM ({query})", params)
    return query, params


def build_maps(cur, profile: Profile, pl: Plan) -> None:
    """Small lookup tables for the distinct raw severity, status and type values."""
    sev = pl.severity_values
    cur.execute("CREATE OR REPLACE TEMP TABLE _sevmap (raw VARCHAR, sev VARCHAR)")
    if sev:
        cur.executemany("INSERT INTO _sevmap VALUES ($raw, $sev)", [{"raw": r, "sev": v} for r, v in sev.items()])
    default_type = profile.defaults.get("type", "incident")
    vocab = profile.status_vocabulary()
    for name, fld, fn in (
        ("_statmap", "status", lambda v: (normalise.status_category(v, vocab),
                                          normalise.pause_reason(v, profile.waiting))),
        ("_typemap", "type", lambda v: (normalise.ticket_type(v, profile.type_map, default_type), None)),
    ):
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {name} (raw VARCHAR, val VARCHAR, pause VARCHAR)")
        if fld in pl.columns:
            values = [r[0] for r in cur.execute(
                f"SELECT DISTINCT {qident('f_' + fld)} FROM _rows WHERE {qident('f_' + fld)} IS NOT NULL"
            ).fetchall()]
            if values:
                cur.executemany(f"INSERT INTO {name} VALUES ($raw, $val, $pause)",
                                [dict(zip(("raw", "val", "pause"), (v, *fn(v)), strict=True)) for v in values])


def plan_warnings(profile: Profile, pl: Plan) -> list[str]:
    """What the upload result warns about: missing columns, ambiguous dates, a guessed severity order."""
    warnings = [f"{f}: mapped column '{c}' is not in this file" for f, c in pl.missing.items()]
    warnings += [f"{g.column}: day and month are ambiguous; read as {g.format}" for g in pl.timestamps.values()
                 if g.ambiguous]
    if profile.source.severity_guess and "severity" in pl.columns:
        warnings.append(f"{pl.columns['severity']}: {SEVERITY_GUESS_WARNING}")
    return warnings


def status_values(cur, raw: str, pl: Plan, profile: Profile, limit: int = 500) -> dict[str, tuple[str, str | None]]:
    """The file's distinct statuses (most frequent first, at most `limit`) → (category, pause reason)."""
    col = pl.columns.get("status")
    if not col:
        return {}
    make_cfg(cur, profile)
    params: dict[str, Any] = {}
    expr = _text_expr(col, params, "v")
    rows = cur.execute(
        f"SELECT v FROM (SELECT {expr} AS v FROM {qident(raw)} CROSS JOIN _cfg) WHERE v IS NOT NULL "
        f"GROUP BY v ORDER BY count(*) DESC, v LIMIT {bind(params, 'limit', limit)}", params).fetchall()
    vocab = profile.status_vocabulary()
    return {r[0]: (normalise.status_category(r[0], vocab), normalise.pause_reason(r[0], profile.waiting))
            for r in rows}


def count_without_priority(cur, layout: str) -> int:
    """Tickets of this file (in _stage) with no priority value at all (after null tokens)."""
    if layout == "history":
        return 0
    return cur.execute("SELECT count(*) FROM _stage WHERE priority_raw IS NULL").fetchall()[0][0]


def version_sql(pl: Plan) -> str:
    """A tickets file's version of each ticket (schema.VERSION_FIELD), over its parsed t_ columns."""
    latest = [qident("t_" + f) for f in VERSION_TIME_FIELDS if f in pl.timestamps]
    lifecycle = f"greatest({', '.join(latest)})" if latest else "CAST(NULL AS TIMESTAMP)"
    return f"coalesce(t_{UPDATED_FIELD}, {lifecycle})" if UPDATED_FIELD in pl.timestamps else lifecycle


def _value_sql(fld: str, pl: Plan, params: dict[str, Any], defaults: dict[str, str]) -> str:
    """The canonical value of a text/integer/boolean field for one (deduplicated) row `g`."""
    col = qident("f_" + fld)
    if fld in pl.columns:
        base = col
    else:
        base = "NULL"
    if fld in defaults:
        base = f"coalesce({base}, {bind(params, 'default_' + fld, defaults[fld])})"
    if fld in INTEGER_FIELDS:
        return f"TRY_CAST(TRY_CAST({base} AS DOUBLE) AS INTEGER)"
    if fld in BOOLEAN_FIELDS:
        return f"TRY_CAST({base} AS BOOLEAN)"
    return f"CAST({base} AS VARCHAR)"


def stage_tickets_query(profile: Profile, pl: Plan, rows: RowsQuery, has_dups: bool = True,
                        has_rejects: bool = True) -> RowsQuery:
    """The staged tickets of a tickets layout, straight from the rows query (no second full copy
    of the file is materialised): one per id, the last row of an id wins."""
    params = dict(rows[1])  # the rows query's names; bind names these apart from them
    label = bind(params, "source_label", profile.source.source_label)
    exprs = [f"{label} || ':' || f_external_id AS ticket_id", f"{label} AS source", "f_external_id AS external_id"]
    for fld in TICKET_COLUMNS[3:] + DERIVED_TICKET_COLUMNS:
        exprs.append(f"{_field_expr(fld, pl, params, profile)} AS {qident(fld)}")
    exprs.append(f"{version_sql(pl)} AS version_at")
    # Deduplicating needs a sort; most exports have unique ids (the caller knows), so only then.
    # Without rejects there is nothing to filter, and the reason text need not be built again.
    latest_filter = ("WHERE _reason IS NULL " if has_rejects else "") + (
        "QUALIFY row_number() OVER (PARTITION BY f_external_id ORDER BY __row DESC) = 1" if has_dups else "")
    latest = f"(SELECT * FROM ({rows[0]}) {latest_filter})"
    return stage_query(f"SELECT {', '.join(exprs)} FROM {_joined(latest, pl)}"), params


def _joined(table: str, pl: Plan) -> str:
    """FROM clause joining the lookup maps that this plan can use."""
    sql = f"{table} g"
    if "severity" in pl.columns:
        sql += " LEFT JOIN _sevmap sm ON sm.raw = g.f_severity"
    if "status" in pl.columns:
        sql += " LEFT JOIN _statmap st ON st.raw = g.f_status"
    if "type" in pl.columns:
        sql += " LEFT JOIN _typemap tm ON tm.raw = g.f_type"
    return sql


def _field_expr(fld: str, pl: Plan, params: dict[str, Any], profile: Profile) -> str:
    """The canonical value of field `fld` over a row `g`; its values bound into `params`."""
    if fld == "resolved_at_reported":
        return _field_expr("resolved_at", pl, params, profile)
    if fld == "resolved_at_basis":
        # Without a history the export's column is all there is; a history loaded later
        # re-stamps the ticket (ingest.events.restamp_resolution).
        basis = bind(params, "resolved_from_column", RESOLVED_FROM_COLUMN)
        return f"CASE WHEN {_field_expr('resolved_at', pl, params, profile)} IS NOT NULL THEN {basis} END"
    if fld == "pause_reason":
        return "st.pause" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    if fld in TIMESTAMP_FIELDS:
        return qident("t_" + fld) if fld in pl.timestamps else "CAST(NULL AS TIMESTAMP)"
    if fld == "severity":
        return "sm.sev" if "severity" in pl.columns else "CAST(NULL AS VARCHAR)"
    if fld == "priority_raw":
        src = "f_priority_raw" if "priority_raw" in pl.columns else (
            "f_severity" if "severity" in pl.columns else "NULL")
        return f"CAST({src} AS VARCHAR)"
    if fld == "type":
        default = bind(params, "default_type", profile.defaults.get("type", "incident"))
        return f"coalesce(tm.val, {default})" if "type" in pl.columns else f"CAST({default} AS VARCHAR)"
    if fld == "status_category":
        # Without a status column, the timestamps say how far the ticket got.
        derived = ("CASE WHEN closed_at_ IS NOT NULL THEN 'closed' WHEN resolved_at_ IS NOT NULL "
                   "THEN 'resolved' ELSE 'open' END")
        derived = derived.replace("closed_at_", _field_expr("closed_at", pl, params, profile)).replace(
            "resolved_at_", _field_expr("resolved_at", pl, params, profile))
        return f"coalesce(st.val, {derived})" if "status" in pl.columns else derived
    return _value_sql(fld, pl, params, profile.defaults)


def stage_query(select_sql: str) -> str:
    """The canonical rows of `select_sql` plus the hash that detects changed tickets."""
    # Stable across DuckDB versions (analytics/store/row_hash.py): stored hashes are compared with it.
    return f"SELECT *, {row_hash.ticket_sql()} AS row_hash FROM ({select_sql})"


def create_stage(cur, select_sql: str, params: dict[str, Any]) -> None:
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS {stage_query(select_sql)}", params)
