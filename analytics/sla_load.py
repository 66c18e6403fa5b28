"""The SLA engine's input: the selected tickets and their status history as numpy arrays.

One SQL pass selects the tickets (with the exclusion each one falls under), one window over
their status history yields

- the **resolution instant**: the first event of the resolved/closed stretch the history ends in
  (the ticket never leaves it). Exports re-stamp resolved_at on later updates (ServiceNow's
  event log does), so where a history exists it decides; the export's resolved_at is used only
  for tickets without history or whose history does not end resolved/closed;
- the **stop segments**: every history row in a resolved/closed status before that final
  stretch (time the ticket sat resolved before a reopen), and every row that may pause a clock
  (its status matches a policy's pause pattern, or its pause_reason is one a policy lists).

A status reads as resolved/closed by the status map of the profile its rows were loaded with
(a help desk's "Resolve SW anomaly" is a step of the work, not a resolution), else by the
shared vocabulary (analytics.normalise).
"""

from __future__ import annotations

import tomllib

import numpy as np
import pyarrow.compute as pc

from . import normalise
from .exclusions import ACK_BEFORE_OPEN, RESOLVE_EXCLUSIONS
from .sla_clock import RES_EXPORT, RES_EXPORT_HISTORY_OPEN, RES_HISTORY, RES_NONE, Batch
from .sla_policy import Policy, pause_matcher

CLOSEDISH = ("resolved", "closed")
# Left out of both clocks with the KPI's own label (MTTR leaves them out); cancelled tickets are
# the engine's own first check, so only the others are evaluated here.
EXCLUDED = tuple(x for x in RESOLVE_EXCLUSIONS if "cancelled" not in x.condition_sql)
_EXCLUDED_SQL = "CASE " + " ".join(f"WHEN {x.condition_sql} THEN {i + 1}" for i, x in enumerate(EXCLUDED)) + " ELSE 0 END"

_SEGMENTS_SQL = """
WITH h AS (
    SELECT t.rn, h.event_time, h.seq, h.status, {reason} AS reason, k.status IS NOT NULL AS stop
    FROM status_history h JOIN (SELECT rowid AS rn, ticket_id FROM _sla_t) t USING (ticket_id)
    LEFT JOIN _sla_k k ON k.ds = coalesce(h.dataset_id, -1) AND k.status = h.status
), w AS (
    SELECT rn, event_time, seq, status, reason, stop, lead(event_time) OVER w AS next_time,
           coalesce(lag(stop) OVER w, false) AS after_stop,
           -- fin: a row of the resolved/closed stretch the history ends in
           stop AND NOT bool_or(NOT stop) OVER (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS fin
    FROM h WINDOW w AS (PARTITION BY rn ORDER BY event_time, seq)
)
SELECT rn, epoch_us(event_time)::DOUBLE AS s, epoch_us(next_time)::DOUBLE AS e, status, reason,
       stop AND NOT fin AS closed, fin AND NOT after_stop AS final, next_time IS NULL AS last
FROM w
WHERE (NOT fin AND (list_contains(?::VARCHAR[], status) OR list_contains(?::VARCHAR[], reason)))
   OR (stop AND NOT fin) OR (fin AND NOT after_stop) OR (next_time IS NULL AND NOT stop)
ORDER BY rn, event_time, seq
"""


def _dict(column) -> tuple[np.ndarray, list]:
    """Arrow column → (codes, values); null → −1."""
    enc = pc.dictionary_encode(column).combine_chunks()
    return enc.indices.fill_null(-1).to_numpy().astype(np.int64), enc.dictionary.to_pylist()


def has_column(cur, table: str, column: str) -> bool:
    return bool(cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
                            [table, column]).fetchall()[0][0])


def _stop_statuses(cur) -> list[tuple[int, str]]:
    """(dataset_id or −1, status) of every history status that reads as resolved/closed."""
    rows = cur.execute(
        "SELECT coalesce(h.dataset_id, -1), h.status, d.profile_toml FROM (SELECT DISTINCT dataset_id, status "
        "FROM status_history WHERE status IS NOT NULL) h LEFT JOIN datasets d USING (dataset_id)").fetchall()
    maps: dict[int, dict] = {}
    out = []
    for ds, status, text in rows:
        if ds not in maps:
            try:
                maps[ds] = dict(tomllib.loads(text).get("status_map", {})) if text else {}
            except tomllib.TOMLDecodeError:  # a hand-edited profile: the shared vocabulary still applies
                maps[ds] = {}
        if normalise.status_category(status, maps[ds]) in CLOSEDISH:
            out.append((ds, status))
    return out


def load_batch(cur, where: str, params, pols: list[Policy]) -> Batch:
    """Tickets matching `where` (a parameterised clause over tickets) and their stop segments.

    Rows are ordered by opened_at, ticket_id. Leaves the temp tables _sla_t and _sla_k on `cur`."""
    reason_t = "lower(pause_reason)" if has_column(cur, "tickets", "pause_reason") else "NULL::VARCHAR"
    reason_h = "lower(h.pause_reason)" if has_column(cur, "status_history", "pause_reason") else "NULL::VARCHAR"
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _sla_t AS SELECT ticket_id, severity, type, status, status_category, "
        f"opened_at, acknowledged_at, resolved_at, {reason_t} AS pause_reason, {_EXCLUDED_SQL} AS excluded, "
        f"coalesce({ACK_BEFORE_OPEN.condition_sql}, false) AS ack_excluded "
        f"FROM tickets WHERE {where} ORDER BY opened_at, ticket_id",
        list(params),
    )
    t = cur.sql(
        "SELECT ticket_id, severity, type, status, status_category, epoch_us(opened_at)::DOUBLE AS o, "
        "epoch_us(acknowledged_at)::DOUBLE AS a, epoch_us(resolved_at)::DOUBLE AS r, pause_reason, excluded, "
        "ack_excluded FROM _sla_t ORDER BY rowid"
    ).to_arrow_table()
    cur.execute("CREATE OR REPLACE TEMP TABLE _sla_k (ds INTEGER, status VARCHAR)")
    stops = _stop_statuses(cur)
    if stops:
        cur.executemany("INSERT INTO _sla_k VALUES (?, ?)", [list(x) for x in stops])
    statuses = sorted({r[0] for r in cur.execute(
        "SELECT DISTINCT status FROM status_history WHERE status IS NOT NULL").fetchall()})
    matchers = [pause_matcher(p.pause_statuses) for p in pols]
    pause_any = [s for s in statuses if any(m.match(s) for m in matchers)]
    reasons_any = sorted({r for p in pols for m in ("response", "resolution") for r in p.pause_reasons.of(m)})
    seg = cur.sql(_SEGMENTS_SQL.format(reason=reason_h), params=[pause_any, reasons_any]).to_arrow_table()
    rn = seg["rn"].to_numpy().astype(np.int64)
    s = seg["s"].to_numpy().astype(np.float64)
    e = np.nan_to_num(seg["e"].to_numpy().astype(np.float64), nan=np.inf)  # still in that status
    final = seg["final"].to_numpy().astype(bool)
    closed = seg["closed"].to_numpy().astype(bool)
    seg_codes, seg_values = _dict(seg["status"])
    codes = np.array([statuses.index(v) for v in seg_values] + [-1], dtype=np.int64)[seg_codes]
    reason_codes, reasons = _dict(seg["reason"])
    cur_codes, cur_values = _dict(t["pause_reason"])
    vocab = list(dict.fromkeys([*reasons, *cur_values]))
    reason_codes = np.array([vocab.index(v) for v in reasons] + [-1], dtype=np.int64)[reason_codes]
    cur_codes = np.array([vocab.index(v) for v in cur_values] + [-1], dtype=np.int64)[cur_codes]
    n = t.num_rows
    reported = t["r"].to_numpy().astype(np.float64)
    # The final stretch's entry row (one per ticket whose history ends resolved/closed) is the
    # resolution instant; as a segment it stops every clock from there on.
    hist = np.full(n, np.nan)
    hist[rn[final]] = s[final]
    e = np.where(final, np.inf, e)
    closed |= final
    # Every ticket with history has a final entry row or, when it ends elsewhere, its last row.
    has_history = np.zeros(n, bool)
    has_history[rn[final | seg["last"].to_numpy().astype(bool)]] = True
    resolved = np.where(np.isnan(hist), reported, hist)
    source = np.select([~np.isnan(hist), np.isnan(reported), has_history], [RES_HISTORY, RES_NONE, RES_EXPORT_HISTORY_OPEN],
                       RES_EXPORT).astype(np.int8)
    sev, sev_values = _dict(t["severity"])
    typ, typ_values = _dict(t["type"])
    cat, cat_values = _dict(t["status_category"])
    cur_status, status_values = _dict(t["status"])
    return Batch(
        ticket_id=t["ticket_id"].to_pandas(), severity=(sev, sev_values), type=(typ, typ_values),
        category=(cat, cat_values), status=(cur_status, status_values),
        opened=t["o"].to_numpy().astype(np.float64), ack=t["a"].to_numpy().astype(np.float64),
        resolved=resolved, seg_rn=rn, seg_start=s, seg_end=e, seg_status=codes, seg_closed=closed,
        seg_reason=reason_codes, statuses=statuses, reasons=vocab, cur_reason=cur_codes, reported=reported,
        res_source=source, excluded=t["excluded"].to_numpy().astype(np.int64),
        ack_excluded=t["ack_excluded"].to_numpy().astype(bool),
    )
