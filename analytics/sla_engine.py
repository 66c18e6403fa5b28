"""Per-ticket SLA evaluation for a whole ticket set at once: response and resolution clocks.

Definitions (docs/sla.md repeats them with examples):
- A ticket is judged by the policy version in force on the UTC day it opened and, per metric,
  by its most specific target (type-specific beats any-type).
- Response runs from opened_at to acknowledged_at (a ticket resolved without an
  acknowledgement: to the resolution); resolution runs from opened_at to resolved_at (from the
  history's last entry into a resolved/closed status when the export lost resolved_at). Open
  clocks run to `as_of`.
- The clock stops while the ticket is in a pause status and while it sat resolved before a
  reopen (it resumes at the reopen). Business minutes = working minutes on the target's
  calendar minus stopped working minutes; calendar minutes = plain wall time.
- ever_breached (default): the clock accumulates across reopen cycles, so a ticket that
  breached before a reopen stays breached. Without it only the latest cycle (since the last
  reopen) is judged, Jira-style.
- breach_at is exact: the deadline is pushed back by the stopped time that happened before the
  breach point, not by all of it.

Set-based throughout: SQL selects the tickets and the history's stop segments, numpy
searchsorted does the calendar arithmetic; Python loops only over policy versions, metrics
and targets. Strings travel as Arrow dictionary codes and come back as categoricals.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from . import normalise
from .business_time import US_PER_MIN, from_us, scalar_us
from .schema import SEVERITIES, STATUS_CATEGORIES, TICKET_TYPES
from .sla_clock import Batch, Judgement, NA, clock, span, target_table
from .sla_policy import Policy, pause_matcher, policies as saved_policies

METRICS = ("response", "resolution")
STATUS_TEXT = ["not applicable", "met", "breached", "running", "paused"]
CLOSEDISH = ("resolved", "closed")

COLUMNS = (
    "ticket_id", "severity", "type", "status_category", "opened_at", "policy_version",
    *(f"{m}_{c}" for m in METRICS for c in (
        "target_minutes", "business_minutes", "calendar_minutes", "status", "breach_at", "stopped_at", "clock",
        "reason")),
    "paused_minutes", "consumed_pct", "at_risk_bucket", "breach_at",
    "escalate_next_tier", "escalate_incident_lead",
)

_SEGMENTS_SQL = """
WITH cand AS (
    SELECT rowid AS rn, ticket_id, status_category IN ('resolved', 'closed') AND resolved_at IS NULL AS lost
    FROM _sla_t
    WHERE reopen_count > 0 OR (status_category IN ('resolved', 'closed') AND resolved_at IS NULL)
       OR ticket_id IN (SELECT ticket_id FROM status_history WHERE list_contains(?::VARCHAR[], status))
), h AS (
    SELECT c.rn, c.lost, h.event_time, h.seq, h.status, lead(h.event_time) OVER w AS next_time,
           coalesce(list_contains(?::VARCHAR[], lag(h.status) OVER w), false) AS after_stop
    FROM status_history h JOIN cand c USING (ticket_id)
    WINDOW w AS (PARTITION BY c.rn ORDER BY h.event_time, h.seq)
)
SELECT rn, epoch_us(event_time)::DOUBLE AS s, epoch_us(next_time)::DOUBLE AS e, status, after_stop, lost
FROM h WHERE list_contains(?::VARCHAR[], status)
ORDER BY rn, event_time, seq
"""


def _dict(column) -> tuple[np.ndarray, list]:
    """Arrow column → (codes, values); null → −1."""
    enc = pc.dictionary_encode(column).combine_chunks()
    return enc.indices.fill_null(-1).to_numpy().astype(np.int64), enc.dictionary.to_pylist()


def _recode(codes: np.ndarray, values: list, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Codes into `values` → codes into `vocabulary` (anything else, or null: len(vocabulary))."""
    lookup = np.array([vocabulary.index(v) if v in vocabulary else len(vocabulary) for v in values]
                      + [len(vocabulary)], dtype=np.int64)
    return lookup[codes]


def load_batch(cur, where: str, params, pols: list[Policy]) -> Batch:
    """Tickets matching `where` (a parameterised clause over tickets) and their stop segments.

    Rows are ordered by opened_at, ticket_id. Leaves the temp table _sla_t on `cur`."""
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _sla_t AS SELECT ticket_id, severity, type, status, status_category, "
        "opened_at, acknowledged_at, resolved_at, coalesce(reopen_count, 0) AS reopen_count "
        f"FROM tickets WHERE {where} ORDER BY opened_at, ticket_id",
        list(params),
    )
    t = cur.sql(
        "SELECT ticket_id, severity, type, status, status_category, epoch_us(opened_at)::DOUBLE AS o, "
        "epoch_us(acknowledged_at)::DOUBLE AS a, epoch_us(resolved_at)::DOUBLE AS r, reopen_count "
        "FROM _sla_t ORDER BY rowid"
    ).to_arrow_table()
    statuses = sorted({r[0] for r in cur.execute(
        "SELECT DISTINCT status FROM status_history WHERE status IS NOT NULL").fetchall()})
    matchers = [pause_matcher(p.pause_statuses) for p in pols]
    pause_any = [s for s in statuses if any(m.match(s) for m in matchers)]
    stop = [s for s in statuses if normalise.status_category(s) in CLOSEDISH]
    seg = cur.sql(_SEGMENTS_SQL, params=[pause_any, stop, pause_any + stop]).to_arrow_table()
    rn = seg["rn"].to_numpy().astype(np.int64)
    s = seg["s"].to_numpy().astype(np.float64)
    e = np.nan_to_num(seg["e"].to_numpy().astype(np.float64), nan=np.inf)  # still in that status
    seg_codes, seg_values = _dict(seg["status"])
    codes = np.array([statuses.index(v) for v in seg_values] + [-1], dtype=np.int64)[seg_codes]
    resolved = t["r"].to_numpy().astype(np.float64)
    # Lost resolved_at: the last entry into a resolved/closed run of the history stands in.
    is_stop = np.isin(codes, [statuses.index(x) for x in stop])
    entry = seg["lost"].to_numpy().astype(bool) & ~seg["after_stop"].to_numpy().astype(bool) & is_stop
    if entry.any():
        fallback = np.full(len(resolved), -np.inf)
        np.maximum.at(fallback, rn[entry], s[entry])
        resolved = np.where(np.isnan(resolved) & np.isfinite(fallback), fallback, resolved)
    sev, sev_values = _dict(t["severity"])
    typ, typ_values = _dict(t["type"])
    cat, cat_values = _dict(t["status_category"])
    cur_status, cur_values = _dict(t["status"])
    return Batch(
        ticket_id=t["ticket_id"].to_pandas(), severity=(sev, sev_values), type=(typ, typ_values),
        category=(cat, cat_values), status=(cur_status, cur_values),
        opened=t["o"].to_numpy().astype(np.float64), ack=t["a"].to_numpy().astype(np.float64),
        resolved=resolved, seg_rn=rn, seg_start=s, seg_end=e, seg_status=codes, statuses=statuses,
    )


def evaluate(con, *, as_of: datetime, where: str = "TRUE", params=(), policies: list[Policy] | None = None) -> pd.DataFrame:
    """One row per ticket matching `where`, ordered by opened_at (columns: COLUMNS; docs/sla.md).

    `where`/`params`: a parameterised clause over `tickets`, e.g. Filters.where(). `as_of`
    (naive = UTC) is when open clocks stop. Timestamps come back as naive UTC datetime64,
    minutes as floats, text columns as categoricals; null where not applicable."""
    pols = list(policies) if policies is not None else saved_policies(con)
    if not pols:
        raise ValueError("no SLA policy to judge by: pass at least one, or none for the saved ones")
    cur = con.cursor()
    try:
        batch = load_batch(cur, where, params, pols)
    finally:
        cur.execute("DROP TABLE IF EXISTS _sla_t")
    return frame(batch, judge(batch, pols, as_of))


def judge(b: Batch, pols: list[Policy], as_of: datetime) -> Judgement:
    """Evaluate every ticket of `b` against `pols` at `as_of` (naive = UTC)."""
    now = scalar_us(as_of)
    ordered = sorted(pols, key=lambda p: p.effective_from)  # stable: a later save wins a tie
    j = Judgement(b.n, ordered, METRICS)
    starts = np.array([scalar_us(datetime.combine(p.effective_from, datetime.min.time())) for p in ordered])
    has_open = ~np.isnan(b.opened)
    # The version in force on the opening day; tickets before the first version get the first.
    j.policy_index = np.where(has_open, np.maximum(
        np.searchsorted(starts, np.nan_to_num(b.opened), side="right") - 1, 0), -1)
    cat = _recode(*b.category, STATUS_CATEGORIES)
    closedish = (cat == 1) | (cat == 2)
    res_end = np.where(closedish, b.resolved, np.nan)
    ends = {"response": np.fmin(b.ack, res_end), "resolution": res_end}
    first, last = span(b, now, ordered)
    sev = _recode(*b.severity, SEVERITIES)
    typ = _recode(*b.type, TICKET_TYPES)
    base = [(np.isnan(b.opened), "no opened_at"), (cat == 3, "cancelled"), (b.opened > now, "opened after as_of"),
            (sev == len(SEVERITIES), "no severity mapped")]
    for m in METRICS:
        for mask, text in reversed(base):  # the first matching check wins
            j.set_reason(m, mask, text)
        j.set_reason(m, (j.m[m]["reason"] == 0) & closedish & np.isnan(ends[m]),
                     "resolved, but the data has no resolution time")
    stop_codes = np.array([normalise.status_category(s) in CLOSEDISH for s in b.statuses] + [False])
    for pi, p in enumerate(ordered):
        in_p = j.policy_index == pi
        pausing = pause_matcher(p.pause_statuses)
        seg_pause = np.array([bool(pausing.match(s)) for s in b.statuses] + [False])[b.seg_status]
        seg_stop = seg_pause | stop_codes[b.seg_status]
        # Tickets without history rows: their current status alone says whether they are paused.
        status_pausing = np.array([bool(pausing.match(s)) for s in b.status[1]] + [False])[b.status[0]]
        for m in METRICS:
            tix = target_table(p, m)[sev, typ]
            free = j.m[m]["reason"] == 0
            for si, s in enumerate(SEVERITIES):
                j.set_reason(m, in_p & free & (tix < 0) & (sev == si), f"no {m} target for {s}")
            for ti, target in enumerate(p.targets):
                sel = np.flatnonzero(in_p & free & (tix == ti))
                if len(sel):
                    clock(j, m, sel, b, p, target, j.calendar(p, target.calendar, first, last), ends[m], now,
                          seg_pause, seg_stop, status_pausing)
    return j


def frame(b: Batch, j: Judgement) -> pd.DataFrame:
    """The result table of `judge` (see COLUMNS)."""
    def cat(codes: np.ndarray, values: list, order: tuple = ()) -> pd.Categorical:
        # Categories unique and in the canonical order where there is one (SEV-1 first).
        uniq = [v for v in order if v in values] + [v for v in dict.fromkeys(values) if v not in order]
        remap = np.array([uniq.index(v) for v in values] + [-1], dtype=np.int64)
        return pd.Categorical.from_codes(remap[codes], categories=uniq)

    out: dict[str, object] = {
        "ticket_id": b.ticket_id, "severity": cat(*b.severity, SEVERITIES), "type": cat(*b.type, TICKET_TYPES),
        "status_category": cat(*b.category, STATUS_CATEGORIES), "opened_at": from_us(b.opened),
        "policy_version": cat(j.policy_index, [p.version for p in j.policies]),
    }
    for m in METRICS:
        r = j.m[m]
        out[f"{m}_target_minutes"] = r["target"] / US_PER_MIN
        out[f"{m}_business_minutes"] = r["business"] / US_PER_MIN
        out[f"{m}_calendar_minutes"] = r["calendar"] / US_PER_MIN
        out[f"{m}_status"] = pd.Categorical.from_codes(r["status"], categories=STATUS_TEXT)
        out[f"{m}_breach_at"] = from_us(r["breach"])
        out[f"{m}_stopped_at"] = from_us(r["end"])
        out[f"{m}_clock"] = cat(r["clock"], j.clocks)
        out[f"{m}_reason"] = cat(r["reason"] - 1, j.reasons[1:]).remove_unused_categories()
    resp, res = j.m["response"], j.m["resolution"]
    out["paused_minutes"] = j.paused / US_PER_MIN
    # Headline clock: the response while it is still open (unanswered), else the resolution.
    resp_open = (resp["status"] != NA) & np.isnan(resp["end"])
    use_resp = resp_open | ((resp["status"] != NA) & (res["status"] == NA))
    head = {k: np.where(use_resp, resp[k], res[k]) for k in ("business", "target", "status", "end")}
    pct = np.where(head["status"] != NA, head["business"] / np.where(head["status"] != NA, head["target"], 1) * 100, np.nan)
    out["consumed_pct"] = pct
    labels, codes = j.buckets(pct, (head["status"] != NA) & np.isnan(head["end"]))
    out["at_risk_bucket"] = pd.Categorical.from_codes(codes, categories=labels)
    out["breach_at"] = from_us(np.fmin(resp["breach"], res["breach"]))
    esc, lead = np.zeros(b.n, bool), np.zeros(b.n, bool)
    for i, p in enumerate(j.policies):
        sel = j.policy_index == i
        esc |= sel & (resp["status"] != NA) & (resp["business"] > p.escalate_after_minutes * US_PER_MIN)
        lead |= sel & (res["status"] != NA) & (res["business"] >= res["target"] * p.escalate_lead_pct / 100)
    out["escalate_next_tier"], out["escalate_incident_lead"] = esc, lead
    return pd.DataFrame(out, columns=list(COLUMNS))


def iso_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with every timestamp column as ISO 8601 UTC text ("2026-09-07T09:05:00Z")."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def to_json_records(df: pd.DataFrame) -> list[dict]:
    """Records for JSON: ISO 8601 UTC timestamps, None for anything missing."""
    out = iso_frame(df).astype(object)
    return out.where(out.notna(), None).to_dict(orient="records")
