"""The SLA engine's input: the selected tickets and their status history as numpy arrays.

From the status history of the selected tickets come

- the **resolution instant**: the first event of the resolved/closed stretch the history ends in
  (the ticket never leaves it). Exports re-stamp resolved_at on later updates (ServiceNow's
  event log does), so where a history exists it decides; the export's resolved_at is used only
  for tickets without history or whose history does not end resolved/closed;
- the **stop segments**: every history row in a resolved/closed status before that final
  stretch (time the ticket sat resolved before a reopen), and every row that may pause a clock
  (its status matches a policy's pause pattern, or its pause_reason is one a policy lists).

A status reads as resolved/closed by the status map of the profile its rows were loaded with
(a help desk's "Resolve SW anomaly" is a step of the work, not a resolution), else by the
shared vocabulary (analytics.ingest.normalise).

Two passes keep a million tickets cheap: one aggregate over all history rows finds, per ticket,
its first resolved/closed event and whether its history is simple (every resolved/closed event
after every other event, no pause candidate) — then that first event is the resolution and no
segment is needed. Only the other tickets (reopened, waiting, or with same-instant events to
order by seq) go through a window over their rows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow.compute as pc

from analytics.ingest import normalise
from analytics.sla.clock import RES_EXPORT, RES_EXPORT_HISTORY_OPEN, RES_HISTORY, RES_NONE, Batch
from analytics.sla.policy import Policy, pause_matcher
from analytics.store.exclusions import ACK_AT_OPEN_SQL, ACK_BEFORE_OPEN, RESOLVE_EXCLUSIONS

CLOSEDISH = ("resolved", "closed")
# Left out of both clocks with the KPI's own label (MTTR leaves them out); cancelled tickets are
# the engine's own first check, so only the others are evaluated here.
EXCLUDED = tuple(x for x in RESOLVE_EXCLUSIONS if "cancelled" not in x.condition_sql)
_EXCLUDED_SQL = "CASE " + " ".join(f"WHEN {x.condition_sql} THEN {i + 1}" for i, x in enumerate(EXCLUDED)) + " ELSE 0 END"

# History rows of the selected tickets with two flags: stop (a resolved/closed status) and cand
# (may pause a clock). _sla_f holds the flags per (dataset, status); {reason} is the row's
# pause_reason, or NULL in a store without that column.
_ROWS_SQL = """SELECT t.rn, h.event_time, h.seq, h.status, {reason} AS reason, coalesce(f.stop, false) AS stop,
    coalesce(f.cand OR list_contains($reasons::VARCHAR[], {reason}), false) AS cand
    FROM status_history h JOIN (SELECT rowid AS rn, ticket_id FROM _sla_t) t USING (ticket_id)
    LEFT JOIN _sla_f f ON f.ds = coalesce(h.dataset_id, -1) AND f.status = h.status"""
# Per ticket: its first resolved/closed event, whether the history ends in one, and whether it
# needs the window (a pause candidate, or a resolved/closed event not after every other event).
_SUMMARY_SQL = f"""CREATE OR REPLACE TEMP TABLE _sla_a AS
SELECT rn, epoch_us(min(event_time) FILTER (WHERE stop))::DOUBLE AS first_stop,
    coalesce(max(event_time) FILTER (WHERE stop) > max(event_time) FILTER (WHERE NOT stop), bool_or(stop)) AS ends_stop,
    bool_or(cand) OR coalesce(min(event_time) FILTER (WHERE stop) <= max(event_time) FILTER (WHERE NOT stop), false)
        AS involved
FROM ({_ROWS_SQL}) GROUP BY rn"""
# The involved tickets' rows that can matter: pause candidates, resolved/closed rows and each
# ticket's last row. `k` orders rows within a ticket (numpy sorts: cheaper than ORDER BY here).
_SEGMENTS_SQL = f"""WITH h AS ({_ROWS_SQL} WHERE t.rn IN (SELECT rn FROM _sla_a WHERE involved)), w AS (
    SELECT rn, event_time, status, reason, stop, cand, lead(event_time) OVER w AS next_time,
        row_number() OVER w AS k, coalesce(lag(stop) OVER w, false) AS after_stop,
        coalesce(lead(stop) OVER w, false) AS before_stop
    FROM h WINDOW w AS (PARTITION BY rn ORDER BY event_time, seq))
SELECT rn, k, epoch_us(event_time)::DOUBLE AS s, epoch_us(next_time)::DOUBLE AS e, status, reason, stop, cand,
    after_stop, before_stop
FROM w WHERE stop OR cand OR next_time IS NULL"""


def _dict(column) -> tuple[np.ndarray, list]:
    """Arrow column → (codes, values); null → −1."""
    enc = pc.dictionary_encode(column).combine_chunks()
    return enc.indices.fill_null(-1).to_numpy().astype(np.int64), enc.dictionary.to_pylist()


def _codes(column, vocabulary: list) -> np.ndarray:
    """An Arrow text column as codes into `vocabulary` (null or unknown: −1)."""
    codes, values = _dict(column)
    return np.array([vocabulary.index(v) if v in vocabulary else -1 for v in values] + [-1], dtype=np.int64)[codes]


def has_column(cur, table: str, column: str) -> bool:
    return bool(cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = $t AND column_name = $c",
                            {"t": table, "c": column}).fetchall()[0][0])


def _status_flags(cur, pols: list[Policy]) -> list[str]:
    """Fill the temp table _sla_f (ds, status, stop, cand) for every (dataset, status) of the
    history; returns the distinct statuses, sorted."""
    rows = cur.execute(
        "SELECT coalesce(h.dataset_id, -1), h.status, d.profile_toml FROM (SELECT DISTINCT dataset_id, status "
        "FROM status_history WHERE status IS NOT NULL) h LEFT JOIN datasets d USING (dataset_id)").fetchall()
    matchers = [pause_matcher(p.pause_statuses) for p in pols]
    maps: dict[int, dict] = {}
    flags = []
    for ds, status, text in rows:
        if ds not in maps:
            try:
                maps[ds] = dict(tomllib.loads(text).get("status_map", {})) if text else {}
            except tomllib.TOMLDecodeError:  # a hand-edited profile: the shared vocabulary still applies
                maps[ds] = {}
        flags.append({"ds": ds, "status": status, "stop": normalise.status_category(status, maps[ds]) in CLOSEDISH,
                      "cand": any(m.match(status) for m in matchers)})
    cur.execute("CREATE OR REPLACE TEMP TABLE _sla_f (ds INTEGER, status VARCHAR, stop BOOLEAN, cand BOOLEAN)")
    if flags:
        cur.executemany("INSERT INTO _sla_f VALUES ($ds, $status, $stop, $cand)", flags)
    return sorted({r[1] for r in rows})


def load_batch(cur, where: str, params: Mapping[str, Any], pols: list[Policy]) -> Batch:
    """Tickets matching `where` (a clause over tickets with the named `params`) and their stop segments.

    Rows are ordered by opened_at, ticket_id. Leaves temp tables (_sla_t, _sla_f, _sla_a) on
    `cur`; `drop_temp` removes them."""
    reason_t = "lower(pause_reason)" if has_column(cur, "tickets", "pause_reason") else "NULL::VARCHAR"
    reason_h = "lower(h.pause_reason)" if has_column(cur, "status_history", "pause_reason") else "NULL::VARCHAR"
    # The export's own resolution time: ingest keeps it apart once it re-stamps resolved_at from
    # the history; older stores hold it in resolved_at itself.
    reported = ("coalesce(resolved_at_reported, resolved_at)" if has_column(cur, "tickets", "resolved_at_reported")
                else "resolved_at")
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _sla_t AS SELECT ticket_id, severity, type, status, status_category, "
        f"opened_at, acknowledged_at, resolved_at, {reported} AS reported_at, {reason_t} AS pause_reason, "
        f"{_EXCLUDED_SQL} AS excluded, "
        # 1: the source records no acknowledgement of its own (exclusions.ACK_AT_OPEN), 2: before opened
        f"CASE WHEN source IN ({ACK_AT_OPEN_SQL}) THEN 1 WHEN {ACK_BEFORE_OPEN.condition_sql} THEN 2 ELSE 0 END "
        f"AS ack_excluded FROM tickets WHERE {where} ORDER BY opened_at, ticket_id",
        dict(params),
    )
    t = cur.sql(
        "SELECT ticket_id, severity, type, status, status_category, epoch_us(opened_at)::DOUBLE AS o, "
        "epoch_us(acknowledged_at)::DOUBLE AS a, epoch_us(reported_at)::DOUBLE AS r, pause_reason, excluded, "
        "ack_excluded FROM _sla_t ORDER BY rowid"
    ).to_arrow_table()
    n = t.num_rows
    statuses = _status_flags(cur, pols)
    reasons_any = sorted({r for p in pols for m in ("response", "resolution") for r in p.pause_reasons.of(m)})
    cur.execute(_SUMMARY_SQL.format(reason=reason_h), {"reasons": reasons_any})
    a = cur.sql("SELECT rn, first_stop, ends_stop FROM _sla_a").to_arrow_table()
    a_rn = a["rn"].to_numpy().astype(np.int64)
    has_history = np.zeros(n, bool)
    has_history[a_rn] = True
    hist = np.full(n, np.nan)
    ends = a["ends_stop"].to_numpy().astype(bool)
    hist[a_rn[ends]] = a["first_stop"].to_numpy().astype(np.float64)[ends]
    seg = cur.sql(_SEGMENTS_SQL.format(reason=reason_h), params={"reasons": reasons_any}).to_arrow_table()
    order = np.lexsort((seg["k"].to_numpy(), seg["rn"].to_numpy()))
    rn = seg["rn"].to_numpy().astype(np.int64)[order]
    flag = {c: seg[c].to_numpy().astype(bool)[order]
            for c in ("stop", "cand", "after_stop", "before_stop")}
    s = seg["s"].to_numpy().astype(np.float64)[order]
    e = seg["e"].to_numpy().astype(np.float64)[order]
    # Involved tickets: the final stretch is the resolved/closed rows after the last exit from
    # one (a resolved/closed row followed by an open one), when the history ends resolved/closed.
    last, stop = np.isnan(e), flag["stop"]
    idx = np.arange(len(rn))
    last_exit = np.full(n, -1)
    exits = stop & ~flag["before_stop"] & ~last
    np.maximum.at(last_exit, rn[exits], idx[exits])
    ends_stop = np.zeros(n, bool)
    ends_stop[rn[last & stop]] = True
    in_final = stop & ends_stop[rn] & (idx > last_exit[rn])
    involved = np.unique(rn)
    hist[involved] = np.nan
    hist[rn[in_final & ~flag["after_stop"]]] = s[in_final & ~flag["after_stop"]]
    # Segments: pause candidates and resolved stretches before the final one, each until the
    # next event (+inf: still in it).
    keep = ~in_final & (stop | flag["cand"])
    reported = t["r"].to_numpy().astype(np.float64)
    cur_reason = t["pause_reason"]
    vocab = sorted(set(pc.unique(seg["reason"]).drop_null().to_pylist()) | set(pc.unique(cur_reason).drop_null().to_pylist()))
    sev, sev_values = _dict(t["severity"])
    typ, typ_values = _dict(t["type"])
    cat, cat_values = _dict(t["status_category"])
    cur_status, status_values = _dict(t["status"])
    return Batch(
        ticket_id=t["ticket_id"].to_pandas(), severity=(sev, sev_values), type=(typ, typ_values),
        category=(cat, cat_values), status=(cur_status, status_values),
        opened=t["o"].to_numpy().astype(np.float64), ack=t["a"].to_numpy().astype(np.float64),
        resolved=np.where(np.isnan(hist), reported, hist),
        seg_rn=rn[keep], seg_start=s[keep], seg_end=np.nan_to_num(e[keep], nan=np.inf),
        seg_status=_codes(seg["status"], statuses)[order][keep], seg_closed=stop[keep],
        seg_reason=_codes(seg["reason"], vocab)[order][keep], statuses=statuses, reasons=vocab,
        cur_reason=_codes(cur_reason, vocab), reported=reported,
        res_source=np.select([~np.isnan(hist), np.isnan(reported), has_history],
                             [RES_HISTORY, RES_NONE, RES_EXPORT_HISTORY_OPEN], RES_EXPORT).astype(np.int8),
        excluded=t["excluded"].to_numpy().astype(np.int64), ack_excluded=t["ack_excluded"].to_numpy().astype(np.int64),
    )


def drop_temp(cur) -> None:
    """Remove the temp tables `load_batch` leaves on `cur`."""
    for name in ("_sla_t", "_sla_f", "_sla_a"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
