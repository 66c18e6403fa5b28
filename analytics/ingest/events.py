"""Event logs (many rows per ticket) → one canonical ticket each, plus its status history.

Rules, stated once (docs/data-model.md repeats them):
- ticket attributes take the latest non-empty value in event order (time, then sequence
  column, then file row);
- opened_at is the mapped column if any, else the first event;
- acknowledged/detected/mitigated_at are the first event whose status is in that [events] list;
- resolved_at comes from the history whenever the log has a status: the first event of the
  final stretch of resolved/closed statuses (the stretch the ticket never leaves), so a
  reopened-and-still-open ticket has no resolution time and a resolved_at column that later
  updates re-stamp cannot move it; that column is kept as resolved_at_reported;
- closed_at is the *last entry* into the [events] closed statuses (else the closed category),
  only when the ticket ends closed;
- reopen and reassignment counts are the mapped columns' maxima, else counted from events
  (resolved/closed → open transitions; changes of team);
- version_at is the latest mapped updated time, else the last event.
"""

from __future__ import annotations

import copy
from typing import Any

from analytics.ingest.profiles import Profile
from analytics.ingest.timeparse import TimestampGuess, bind
from analytics.ingest.transform import Plan, _field_expr, _joined, create_stage, qident
from analytics.store import row_hash
from analytics.store.schema import (
    RESOLVED_FROM_COLUMN,
    RESOLVED_FROM_HISTORY,
    TICKET_COLUMNS,
    TIMESTAMP_FIELDS,
    UPDATED_FIELD,
)

_DERIVABLE = ("acknowledged_at", "detected_at", "mitigated_at", "resolved_at", "closed_at")
_CLOSEDISH = "('resolved', 'closed')"


def _status_in(statuses: str, col: str = "f_status") -> str:
    """Whether `col` is one of the bound list `statuses` (a placeholder, e.g. `$closed_at_statuses`)."""
    return f"list_contains({statuses}, {col})"


def build_stage_events(cur, profile: Profile, pl: Plan) -> None:
    """_stage (tickets) and _hist (status history) from the accepted rows of _rows."""
    seq = "TRY_CAST(TRY_CAST(f_event_seq AS DOUBLE) AS BIGINT)" if "event_seq" in pl.columns else "0"
    cat = "st.val" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    pause = "st.pause" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    status = "f_status" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    team = "f_team" if "team" in pl.columns else "CAST(NULL AS VARCHAR)"
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _ev AS SELECT g.*, {cat} AS _cat, {pause} AS _pause, "
        f"row_number() OVER (ORDER BY f_external_id, t_event_time, {seq}, __row) AS _ord "
        f"FROM _rows g {'LEFT JOIN _statmap st ON st.raw = g.f_status' if 'status' in pl.columns else ''} "
        "WHERE g._reason IS NULL"
    )
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _ev2 AS SELECT *, "
        f"lag({status}) OVER w AS _prev_status, lag(_cat) OVER w AS _prev_cat, lag({team}) OVER w AS _prev_team, "
        # The last event that is neither resolved nor closed: what follows it is the final stretch.
        f"max(CASE WHEN _cat NOT IN {_CLOSEDISH} THEN _ord END) OVER (PARTITION BY f_external_id ORDER BY _ord "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS _last_open "
        "FROM _ev WINDOW w AS (PARTITION BY f_external_id ORDER BY _ord)"
    )
    cur.execute("DROP TABLE _ev")

    params: dict[str, Any] = {}
    aggs = ["f_external_id"]
    agg_plan = copy.deepcopy(pl)
    for fld in pl.columns:
        if fld in ("external_id", "event_time", "event_seq", UPDATED_FIELD) or fld in TIMESTAMP_FIELDS:
            continue
        if fld in ("reopen_count", "reassignment_count"):
            continue
        c = qident("f_" + fld)
        aggs.append(f"arg_max({c}, _ord) FILTER (WHERE {c} IS NOT NULL) AS {c}")
    aggs.append("arg_max(_cat, _ord) FILTER (WHERE _cat IS NOT NULL) AS _final_cat")
    # The version (schema.VERSION_FIELD): the source's updated time if mapped, else the last event.
    # Never the resolved/closed columns: an export may fill them from the final state on every row.
    last_updated = f"max(t_{UPDATED_FIELD})" if UPDATED_FIELD in pl.timestamps else "CAST(NULL AS TIMESTAMP)"
    aggs.append(f"coalesce({last_updated}, max(t_event_time)) AS _version_at")

    closedish = _CLOSEDISH
    history_resolution = "status" in pl.columns
    if history_resolution and "resolved_at" in pl.timestamps:
        aggs.append("arg_max(t_resolved_at, _ord) FILTER (WHERE t_resolved_at IS NOT NULL) AS t_resolved_at_reported")
    for fld in TIMESTAMP_FIELDS:
        mapped = f"arg_max(t_{fld}, _ord) FILTER (WHERE t_{fld} IS NOT NULL)" if fld in pl.timestamps else None
        derived = None
        rule = profile.events.get(fld)
        if fld == "resolved_at":
            if history_resolution:
                # The history decides: a resolved_at column that later updates re-stamp must not
                # move the resolution (it is kept as resolved_at_reported).
                mapped, derived = None, (f"min(t_event_time) FILTER (WHERE _cat IN {closedish} "
                                         "AND _ord > coalesce(_last_open, 0))")
        elif fld == "opened_at":
            derived = "min(t_event_time)"
        elif rule and fld == "closed_at":
            statuses = bind(params, f"{fld}_statuses", list(rule))
            derived = (f"max(t_event_time) FILTER (WHERE {_status_in(statuses)} AND "
                       f"(_prev_status IS NULL OR NOT {_status_in(statuses, '_prev_status')}))")
        elif rule:
            derived = f"min(t_event_time) FILTER (WHERE {_status_in(bind(params, f'{fld}_statuses', list(rule)))})"
        elif fld == "closed_at" and "status" in pl.columns:
            derived = ("max(t_event_time) FILTER (WHERE _cat = 'closed' AND "
                       "(_prev_cat IS NULL OR _prev_cat <> 'closed'))")
        if derived and fld == "closed_at":
            derived = f"CASE WHEN arg_max(_cat, _ord) FILTER (WHERE _cat IS NOT NULL) = 'closed' THEN {derived} END"
        # A mapped column is the source's own answer; events only fill in where none is mapped
        # (falling back per ticket would let a close time pose as a resolution time).
        expr = mapped or derived
        if expr:
            aggs.append(f"{expr} AS {qident('t_' + fld)}")
            agg_plan.timestamps.setdefault(fld, TimestampGuess(fld, "(events)", "derived", 0, 0))

    reopen_derived = f"count(*) FILTER (WHERE _cat = 'open' AND _prev_cat IN {closedish})"
    reassign_derived = ("count(*) FILTER (WHERE f_team IS DISTINCT FROM _prev_team AND _prev_team IS NOT NULL)"
                        if "team" in pl.columns else "NULL")
    for fld, derived in (("reopen_count", reopen_derived), ("reassignment_count", reassign_derived)):
        if fld in pl.columns:
            derived = f"coalesce(max(TRY_CAST(f_{fld} AS DOUBLE)), {derived})"
        aggs.append(f"{derived} AS f_{fld}")
        agg_plan.columns[fld] = fld
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _agg AS SELECT {', '.join(aggs)} FROM _ev2 GROUP BY f_external_id",
        params,
    )

    sparams: dict[str, Any] = {}
    label = bind(sparams, "source_label", profile.source.source_label)
    exprs = [f"{label} || ':' || f_external_id AS ticket_id", f"{label} AS source", "f_external_id AS external_id"]
    cols = _agg_cols(cur)
    for fld in TICKET_COLUMNS[3:]:
        if fld == "status_category":
            exprs.append("coalesce(_final_cat, CASE WHEN t_closed_at IS NOT NULL THEN 'closed' "
                         "WHEN t_resolved_at IS NOT NULL THEN 'resolved' ELSE 'open' END) AS status_category"
                         if "t_closed_at" in cols and "t_resolved_at" in cols
                         else "coalesce(_final_cat, 'open') AS status_category")
            continue
        exprs.append(f"{_field_expr(fld, agg_plan, sparams, profile)} AS {qident(fld)}")
    if history_resolution:
        reported = "t_resolved_at_reported" if "t_resolved_at_reported" in cols else "CAST(NULL AS TIMESTAMP)"
        basis = bind(sparams, "resolved_from_history", RESOLVED_FROM_HISTORY)
        exprs += [f"{reported} AS resolved_at_reported", f"CAST({basis} AS VARCHAR) AS resolved_at_basis"]
    else:
        exprs += [f"{_field_expr(f, agg_plan, sparams, profile)} AS {f}"
                  for f in ("resolved_at_reported", "resolved_at_basis")]
    exprs.append(f"{_field_expr('pause_reason', agg_plan, sparams, profile)} AS pause_reason")
    exprs.append("_version_at AS version_at")
    create_stage(cur, f"SELECT {', '.join(exprs)} FROM {_joined('_agg', agg_plan)}", sparams)
    cur.execute("DROP TABLE _agg")

    tier = "f_tier" if "tier" in pl.columns else "CAST(NULL AS VARCHAR)"
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _hist AS SELECT $label || ':' || f_external_id AS ticket_id, "
        "t_event_time AS event_time, "
        "CAST(row_number() OVER (PARTITION BY f_external_id ORDER BY _ord) AS INTEGER) AS seq, "
        f"CAST({status} AS VARCHAR) AS status, CAST({team} AS VARCHAR) AS team, CAST({tier} AS VARCHAR) AS tier, "
        "_cat AS status_category, _pause AS pause_reason FROM _ev2",
        {"label": profile.source.source_label},
    )
    cur.execute("DROP TABLE _ev2")
    # The history belongs to the ticket: a changed history is a changed ticket. (db's migration
    # of older stores computes the same from the stored history: row_hash.rehash.)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _hhash AS SELECT ticket_id, {row_hash.history_md5_sql()} AS h "
                "FROM _hist GROUP BY ticket_id")
    cur.execute(f"UPDATE _stage SET row_hash = {row_hash.with_history_sql('_stage.row_hash', '_hhash.h')} "
                "FROM _hhash WHERE _stage.ticket_id = _hhash.ticket_id")
    cur.execute("DROP TABLE _hhash")


def _agg_cols(cur) -> set[str]:
    return {r[0] for r in cur.execute("DESCRIBE _agg").fetchall()}


def build_stage_history(cur, profile: Profile, pl: Plan) -> None:
    """A history-only file (e.g. Statuspage updates): _hist of every accepted row; which of its
    tickets the store holds is the upload's to check (the others' rows become rejects)."""
    label = profile.source.source_label
    status = "f_status" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    team = "f_team" if "team" in pl.columns else "CAST(NULL AS VARCHAR)"
    tier = "f_tier" if "tier" in pl.columns else "CAST(NULL AS VARCHAR)"
    seq = "TRY_CAST(TRY_CAST(f_event_seq AS DOUBLE) AS BIGINT)" if "event_seq" in pl.columns else "0"
    cat, pause, join = ("st.val", "st.pause", "LEFT JOIN _statmap st ON st.raw = g.f_status") if "status" in pl.columns \
        else ("CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)", "")
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _hist AS SELECT $label || ':' || f_external_id AS ticket_id, "
        "t_event_time AS event_time, CAST(row_number() OVER (PARTITION BY f_external_id "
        f"ORDER BY t_event_time, {seq}, __row) AS INTEGER) AS seq, CAST({status} AS VARCHAR) AS status, "
        f"CAST({team} AS VARCHAR) AS team, CAST({tier} AS VARCHAR) AS tier, {cat} AS status_category, "
        f"{pause} AS pause_reason FROM _rows g {join} WHERE _reason IS NULL",
        {"label": label},
    )


def restamp_resolution(cur, scope: str, params: dict[str, Any] | None = None) -> None:
    """Set resolved_at of the stored tickets in `scope` (a ticket_id condition) from their history.

    The same rule as for event logs: the first event of the final resolved/closed stretch of
    the stored history (its status_category), basis 'history'; a ticket with no categorised
    history gets its export's value back (resolved_at_reported), basis 'export column'. Used
    when a history file arrives after its tickets, when tickets are re-loaded under a stored
    history, and when a history upload is deleted. `params` are the named values `scope` uses;
    the names $restamp_history and $restamp_column are this function's own."""
    params = dict(params or {})
    if clash := {"restamp_history", "restamp_column"} & {k.lower() for k in params}:
        raise ValueError(f"restamp_resolution: parameter names reserved: {sorted(clash)}")
    # Two hash aggregates rather than windows: no sort of the whole history. The key orders
    # events as the history does (time, then seq).
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _restamp AS WITH h AS (SELECT ticket_id, event_time, "
        f"epoch_us(event_time)::HUGEINT * 4294967296 + seq AS k, status_category IN {_CLOSEDISH} AS done "
        f"FROM status_history WHERE status_category IS NOT NULL AND ({scope})), "
        "lo AS (SELECT ticket_id, max(k) FILTER (WHERE NOT done) AS last_open FROM h GROUP BY ticket_id) "
        "SELECT ticket_id, min(event_time) FILTER (WHERE done AND (last_open IS NULL OR k > last_open)) AS res "
        "FROM h JOIN lo USING (ticket_id) GROUP BY ticket_id", params)
    cur.execute("UPDATE tickets SET resolved_at = r.res, resolved_at_basis = $restamp_history FROM _restamp r "
                "WHERE tickets.ticket_id = r.ticket_id AND (tickets.resolved_at IS DISTINCT FROM r.res "
                "OR tickets.resolved_at_basis IS DISTINCT FROM $restamp_history)",
                {"restamp_history": RESOLVED_FROM_HISTORY})
    cur.execute(f"UPDATE tickets SET resolved_at = resolved_at_reported, resolved_at_basis = CASE WHEN "
                f"resolved_at_reported IS NOT NULL THEN $restamp_column END WHERE ({scope}) "
                "AND resolved_at_basis = $restamp_history AND ticket_id NOT IN (SELECT ticket_id FROM _restamp)",
                {**params, "restamp_column": RESOLVED_FROM_COLUMN, "restamp_history": RESOLVED_FROM_HISTORY})
    cur.execute("DROP TABLE _restamp")
