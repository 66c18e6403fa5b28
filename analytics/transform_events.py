"""Event logs (many rows per ticket) → one canonical ticket each, plus its status history.

Rules, stated once (docs/data-model.md repeats them):
- ticket attributes take the latest non-empty value in event order (time, then sequence
  column, then file row);
- opened_at is the mapped column if any, else the first event;
- acknowledged/detected/mitigated_at are the first event whose status is in that [events] list;
- resolved_at and closed_at are the *last entry* into those statuses, and only when the
  ticket ends in that state, so a reopened-and-still-open ticket has no resolution time;
  without [events] rules, entry into the resolved/closed status category is used;
- reopen and reassignment counts are the mapped columns' maxima, else counted from events
  (resolved/closed → open transitions; changes of team).
"""

from __future__ import annotations

import copy

from .profiles import Profile
from .schema import TICKET_COLUMNS, TIMESTAMP_FIELDS
from .timeparse import TimestampGuess
from .transform import Plan, _field_expr, _joined, create_stage, qident

_DERIVABLE = ("acknowledged_at", "detected_at", "mitigated_at", "resolved_at", "closed_at")


def _status_in(params: list, statuses: list[str], col: str = "f_status") -> str:
    params.append(list(statuses))
    return f"list_contains(?, {col})"


def build_stage_events(cur, profile: Profile, pl: Plan) -> None:
    """_stage (tickets) and _hist (status history) from the accepted rows of _rows."""
    seq = "TRY_CAST(TRY_CAST(f_event_seq AS DOUBLE) AS BIGINT)" if "event_seq" in pl.columns else "0"
    cat = "st.val" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    status = "f_status" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    team = "f_team" if "team" in pl.columns else "CAST(NULL AS VARCHAR)"
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _ev AS SELECT g.*, {cat} AS _cat, "
        f"row_number() OVER (ORDER BY f_external_id, t_event_time, {seq}, __row) AS _ord "
        f"FROM _rows g {'LEFT JOIN _statmap st ON st.raw = g.f_status' if 'status' in pl.columns else ''} "
        "WHERE g._reason IS NULL"
    )
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _ev2 AS SELECT *, "
        f"lag({status}) OVER w AS _prev_status, lag(_cat) OVER w AS _prev_cat, lag({team}) OVER w AS _prev_team "
        "FROM _ev WINDOW w AS (PARTITION BY f_external_id ORDER BY _ord)"
    )
    cur.execute("DROP TABLE _ev")

    params: list = []
    aggs = ["f_external_id"]
    agg_plan = copy.deepcopy(pl)
    for fld in pl.columns:
        if fld in ("external_id", "event_time", "event_seq") or fld in TIMESTAMP_FIELDS:
            continue
        if fld in ("reopen_count", "reassignment_count"):
            continue
        c = qident("f_" + fld)
        aggs.append(f"arg_max({c}, _ord) FILTER (WHERE {c} IS NOT NULL) AS {c}")
    aggs.append("arg_max(_cat, _ord) FILTER (WHERE _cat IS NOT NULL) AS _final_cat")

    closedish = "('resolved', 'closed')"
    for fld in TIMESTAMP_FIELDS:
        mapped = f"arg_max(t_{fld}, _ord) FILTER (WHERE t_{fld} IS NOT NULL)" if fld in pl.timestamps else None
        derived = None
        rule = profile.events.get(fld)
        if fld == "opened_at":
            derived = "min(t_event_time)"
        elif rule and fld in ("resolved_at", "closed_at"):
            derived = (f"max(t_event_time) FILTER (WHERE {_status_in(params, rule)} AND "
                       f"(_prev_status IS NULL OR NOT {_status_in(params, rule, '_prev_status')}))")
        elif rule:
            derived = f"min(t_event_time) FILTER (WHERE {_status_in(params, rule)})"
        elif fld == "resolved_at" and "status" in pl.columns:
            derived = (f"max(t_event_time) FILTER (WHERE _cat IN {closedish} AND "
                       f"(_prev_cat IS NULL OR _prev_cat NOT IN {closedish}))")
        elif fld == "closed_at" and "status" in pl.columns:
            derived = ("max(t_event_time) FILTER (WHERE _cat = 'closed' AND "
                       "(_prev_cat IS NULL OR _prev_cat <> 'closed'))")
        if derived and fld == "resolved_at":
            derived = f"CASE WHEN arg_max(_cat, _ord) FILTER (WHERE _cat IS NOT NULL) IN {closedish} THEN {derived} END"
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

    sparams: list = [profile.source.source_label, profile.source.source_label]
    exprs = ["? || ':' || f_external_id AS ticket_id", "? AS source", "f_external_id AS external_id"]
    for fld in TICKET_COLUMNS[3:]:
        if fld == "status_category":
            exprs.append("coalesce(_final_cat, CASE WHEN t_closed_at IS NOT NULL THEN 'closed' "
                         "WHEN t_resolved_at IS NOT NULL THEN 'resolved' ELSE 'open' END) AS status_category"
                         if "t_closed_at" in _agg_cols(cur) and "t_resolved_at" in _agg_cols(cur)
                         else "coalesce(_final_cat, 'open') AS status_category")
            continue
        exprs.append(f"{_field_expr(fld, agg_plan, sparams, profile)} AS {qident(fld)}")
    create_stage(cur, f"SELECT {', '.join(exprs)} FROM {_joined('_agg', agg_plan)}", sparams)
    cur.execute("DROP TABLE _agg")

    hp = [profile.source.source_label]
    tier = "f_tier" if "tier" in pl.columns else "CAST(NULL AS VARCHAR)"
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _hist AS SELECT ? || ':' || f_external_id AS ticket_id, "
        "t_event_time AS event_time, "
        "CAST(row_number() OVER (PARTITION BY f_external_id ORDER BY _ord) AS INTEGER) AS seq, "
        f"CAST({status} AS VARCHAR) AS status, CAST({team} AS VARCHAR) AS team, CAST({tier} AS VARCHAR) AS tier "
        "FROM _ev2",
        hp,
    )
    cur.execute("DROP TABLE _ev2")
    # The history belongs to the ticket: a changed history is a changed ticket.
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _hhash AS SELECT ticket_id, md5(string_agg("
        "concat_ws('\x1f', event_time, status, team, tier), '\x1e' ORDER BY seq)) AS h "
        "FROM _hist GROUP BY ticket_id"
    )
    cur.execute(
        "UPDATE _stage SET row_hash = hash(_stage.row_hash, _hhash.h) FROM _hhash "
        "WHERE _stage.ticket_id = _hhash.ticket_id"
    )
    cur.execute("DROP TABLE _hhash")


def _agg_cols(cur) -> set[str]:
    return {r[0] for r in cur.execute("DESCRIBE _agg").fetchall()}


def build_stage_history(cur, profile: Profile, pl: Plan) -> None:
    """A history-only file (e.g. Statuspage updates): rows for tickets already loaded."""
    label = profile.source.source_label
    status = "f_status" if "status" in pl.columns else "CAST(NULL AS VARCHAR)"
    team = "f_team" if "team" in pl.columns else "CAST(NULL AS VARCHAR)"
    tier = "f_tier" if "tier" in pl.columns else "CAST(NULL AS VARCHAR)"
    # Rows whose ticket is not in the store cannot be attached: they become rejects.
    cur.execute(
        "UPDATE _rows SET _reason = ? || f_external_id || ? WHERE _reason IS NULL AND "
        "(? || ':' || f_external_id) NOT IN (SELECT ticket_id FROM tickets)",
        [f"no ticket {label}:", " in the store; upload the tickets file first", label],
    )
    seq = "TRY_CAST(TRY_CAST(f_event_seq AS DOUBLE) AS BIGINT)" if "event_seq" in pl.columns else "0"
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _hist AS SELECT ? || ':' || f_external_id AS ticket_id, "
        "t_event_time AS event_time, CAST(row_number() OVER (PARTITION BY f_external_id "
        f"ORDER BY t_event_time, {seq}, __row) AS INTEGER) AS seq, CAST({status} AS VARCHAR) AS status, "
        f"CAST({team} AS VARCHAR) AS team, CAST({tier} AS VARCHAR) AS tier FROM _rows WHERE _reason IS NULL",
        [label],
    )
