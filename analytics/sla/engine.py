"""Per-ticket SLA evaluation for a whole ticket set at once: response and resolution clocks.

Definitions (docs/sla.md repeats them with examples):
- A ticket is judged by the policy version in force on the UTC day it opened and, per metric,
  by its most specific target (type-specific beats any-type).
- Response runs from opened_at to acknowledged_at (to the resolution when that came first). A
  ticket resolved without an acknowledgement has no response to measure: not applicable, "no
  acknowledgement recorded". An open ticket without one has a response clock running (or
  breached) until as_of.
- Resolution runs from opened_at to the resolution instant: where a status history exists, the
  first entry into the resolved/closed stretch the ticket never leaves; else the export's
  resolved_at. Open clocks run to `as_of`.
- A clock stops while the ticket sits resolved or closed (before a reopen, and for good after
  the resolution) and while it waits: a history row whose status matches the policy's pause
  patterns, or whose pause_reason the policy lists for that clock. Business minutes = working
  minutes on the target's calendar minus stopped working minutes; calendar minutes = plain wall
  time.
- ever_breached (default): the clock accumulates across reopen cycles, so a ticket that
  breached before a reopen stays breached. Without it only the latest cycle (since the last
  reopen) is judged, Jira-style.
- breach_at is the first instant at which business time reaches the target (the deadline
  pushed back by the stopped time before it, not by all of it). A clock that stops before
  breach_at is met; one that stops at or after it is breached.
- A ticket MTTR leaves out (analytics.store.exclusions.RESOLVE_EXCLUSIONS) is left out of both clocks
  with the same label; one acknowledged before it opened is left out of the response clock.

Set-based throughout: SQL selects the tickets and the history's stop segments
(analytics.sla.load), numpy searchsorted does the calendar arithmetic; Python loops only over
policy versions, metrics and targets. Strings travel as Arrow dictionary codes and come back
as categoricals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.sla.business_time import US_PER_MIN, from_us, scalar_us
from analytics.sla.clock import NA, Batch, Judgement, clock, span, target_table
from analytics.sla.load import EXCLUDED, drop_temp, load_batch
from analytics.sla.policy import Policy, pause_matcher
from analytics.sla.policy import policies as saved_policies
from analytics.store.exclusions import ACK_AT_OPEN, ACK_BEFORE_OPEN, CANCELLED
from analytics.store.schema import SEVERITIES, STATUS_CATEGORIES, TICKET_TYPES

__all__ = ["COLUMNS", "METRICS", "STATUS_TEXT", "evaluate", "frame", "judge"]

METRICS = ("response", "resolution")
STATUS_TEXT = ["not applicable", "met", "breached", "running", "paused"]
NO_ACK = "no acknowledgement recorded"
NO_RESOLUTION = "resolved, but the data has no resolution time"

COLUMNS = (
    "ticket_id", "severity", "type", "status_category", "opened_at", "policy_version",
    *(f"{m}_{c}" for m in METRICS for c in (
        "target_minutes", "business_minutes", "calendar_minutes", "status", "breach_at", "stopped_at", "clock",
        "reason")),
    "paused_minutes", "consumed_pct", "at_risk_bucket", "breach_at",
    "escalate_next_tier", "escalate_incident_lead",
)

def _recode(codes: np.ndarray, values: list, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Codes into `values` → codes into `vocabulary` (anything else, or null: len(vocabulary))."""
    lookup = np.array([vocabulary.index(v) if v in vocabulary else len(vocabulary) for v in values]
                      + [len(vocabulary)], dtype=np.int64)
    return lookup[codes]


def evaluate(con, *, as_of: datetime, where: str = "TRUE", params: Mapping[str, Any] | None = None,
             policies: list[Policy] | None = None) -> pd.DataFrame:
    """One row per ticket matching `where`, ordered by opened_at (columns: COLUMNS; docs/sla.md).

    `where`/`params`: a clause over `tickets` and its named parameters, e.g. Filters.where(). `as_of`
    (naive = UTC) is when open clocks stop. Timestamps come back as naive UTC datetime64,
    minutes as floats, text columns as categoricals; null where not applicable."""
    pols = list(policies) if policies is not None else saved_policies(con)
    if not pols:
        raise ValueError("no SLA policy to judge by: pass at least one, or none for the saved ones")
    cur = con.cursor()
    try:
        batch = load_batch(cur, where, params or {}, pols)
    finally:
        drop_temp(cur)
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
    res_done = closedish & ~(res_end > now)  # resolved by as_of (or resolved at an unknown time)
    # An acknowledgement after the resolution: the resolution answered the ticket first.
    ends = {"response": np.where(np.isnan(b.ack), np.nan, np.fmin(b.ack, res_end)), "resolution": res_end}
    first, last = span(b, now, ordered)
    sev = _recode(*b.severity, SEVERITIES)
    typ = _recode(*b.type, TICKET_TYPES)
    excluded = [(b.excluded == i + 1, x.label) for i, x in enumerate(EXCLUDED)]
    checks = {  # per clock, in order: the first that matches says why
        "response": [*excluded, (b.ack_excluded == 1, ACK_AT_OPEN.label), (b.ack_excluded == 2, ACK_BEFORE_OPEN.label),
                     (~(b.ack <= now) & res_done, NO_ACK)],
        "resolution": [*excluded, (closedish & np.isnan(res_end), NO_RESOLUTION)],
    }
    base = [(np.isnan(b.opened), "no opened_at"), (cat == 3, CANCELLED.label), (b.opened > now, "opened after as_of")]
    for m in METRICS:
        for mask, text in reversed([*base, *checks[m], (sev == len(SEVERITIES), "no severity mapped")]):
            j.set_reason(m, mask, text)  # reversed: the first matching check is written last and wins
        j.seg_pause[m] = np.zeros(len(b.seg_rn), bool)
        j.seg_paused[m] = np.zeros(len(b.seg_rn))
    # numpy's stubs leave None out of ArrayLike; at run time it is one more object element.
    reason_of = np.append(np.array(b.reasons, dtype=object), None)  # type: ignore[call-overload]
    for pi, p in enumerate(ordered):
        in_p = j.policy_index == pi
        pausing = pause_matcher(p.pause_statuses)
        by_status = np.array([bool(pausing.match(s)) for s in b.statuses] + [False])[b.seg_status]
        # Tickets without history rows: their current status alone says whether they are paused.
        status_pausing = np.array([bool(pausing.match(s)) for s in b.status[1]] + [False])[b.status[0]]
        for m in METRICS:
            listed = np.isin(reason_of, p.pause_reasons.of(m))
            # A resolved/closed row is a resolved stretch, never a pause ("Pending closure").
            seg_pause = (by_status | listed[b.seg_reason]) & ~b.seg_closed
            j.seg_pause[m][in_p[b.seg_rn]] = seg_pause[in_p[b.seg_rn]]
            seg_stop = seg_pause | b.seg_closed
            tix = target_table(p, m)[sev, typ]
            free = j.m[m]["reason"] == 0
            for si, s in enumerate(SEVERITIES):
                j.set_reason(m, in_p & free & (tix < 0) & (sev == si), f"no {m} target for {s}")
            for ti, target in enumerate(p.targets):
                sel = np.flatnonzero(in_p & free & (tix == ti))
                if len(sel):
                    clock(j, m, sel, b, p, target, j.calendar(p, target.calendar, first, last), ends[m], now,
                          seg_pause, seg_stop, status_pausing | listed[b.cur_reason])
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
        # At the 30th minute without a response it has been 30 minutes: escalate (as a breach).
        esc |= sel & (resp["status"] != NA) & (resp["business"] >= p.escalate_after_minutes * US_PER_MIN)
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
