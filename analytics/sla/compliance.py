"""SLA compliance: the one cohort every consumer counts, and the figures the SLA page and reports show.

`counts` is the one definition (sla.definitions.SLA_COMPLIANCE_TEXT): per metric, the clocks that
stopped in the period (met or breached, whenever the ticket was opened; ServiceNow's formula)
and beside them the clocks open and breached at the period's end (or the as-of time, if
earlier), over the SLA judgements cached per store version (analytics.sla.cache). The SLA page,
the KPI cards and trends (analytics.kpi.sla_kpis), the closure criterion, the CLI and the monthly
report all call it. `in_cohort` and `open_breached_at` select the same clocks from an
evaluation frame, for the lists of tickets behind the figures.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from analytics.sla.cache import arrays, query
from analytics.sla.definitions import OPEN_BREACHED_TEXT, SLA_COMPLIANCE_TEXT
from analytics.sla.definitions import SLA_SMALL_N as SMALL_N
from analytics.sla.engine import STATUS_TEXT
from analytics.store.filters import Filters
from analytics.store.periods import ALL, COMPARE, Period, bucket_sql, split_sql, undated, windows
from analytics.store.schema import SEVERITIES

NO_DATA, NO_TARGET = "no data", "no target set"  # a severity without a stopped clock / without a target

METRICS = ("response", "resolution")
Z95 = 1.959963984540054
COUNT_COLUMNS = ["bucket", "grp", "metric", "met", "breached", "open_breached", "not_applicable"]

DEFINITIONS = {
    "compliance": SLA_COMPLIANCE_TEXT,
    "open_breached": OPEN_BREACHED_TEXT,
    "at_risk": (
        "At risk: open tickets by share of the target consumed (50–75 %, 75–90 %, 90–100 %, over 100 %), "
        "with the time left until the breach (response clock while unanswered, else resolution), now."
    ),
    "breaches": "Breaches: clocks that stopped in the period over their target, most recent first.",
}


def _codes() -> dict[str, int]:
    return {s: STATUS_TEXT.index(s) for s in ("met", "breached", "not applicable", "running")}


# A clock open and breached at a moment te: judged breached, or still running with its breach
# instant already past (the engine calls a clock whose business time equals its target at the
# as-of time running, e.g. one due at 17:00 judged that night: it breached at its deadline).
_OVERDUE = ("breached", "running")


def counts(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period, *, grain: str | None = None,
           split: str | None = None) -> pd.DataFrame:
    """Columns COUNT_COLUMNS: per bucket, group (`split`: none/severity/service/team) and metric,
    the met and breached clocks that stopped in it, the clocks open and breached at its end and
    the not-applicable clocks of tickets opened in it. `grain` None: one bucket (None), the
    period; "compare": "current" and "previous"; day/week/month/quarter: by the stop time,
    without the open-breached and not-applicable counts (None). The filters' dates only choose
    the period (period_of). The KPI cards' case (no split, one or two windows) is counted in numpy
    over the cached judgements (_counts_numpy), the others in SQL (_counts_sql): the same clocks."""
    if grain in (None, COMPARE) and split in (None, "none"):
        return _counts_numpy(con, filters, period, grain)
    return _counts_sql(con, filters, period, grain, split)


def _counts_numpy(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period, grain: str | None) -> pd.DataFrame:
    """`counts` without split for the windows of `grain` (None or COMPARE): the filters' flags
    from SQL, then per metric and status one histogram of the instants over the windows'
    bounds (a third of the SQL's time at a million tickets)."""
    code = _codes()
    clause, params = undated(filters).where()
    cols, keep = arrays(con, period.as_of, clause, params)
    wins = [(label, b0, b1, max(b0, min(b1, period.as_of))) for label, b0, b1 in windows(period, grain)]
    edges = np.unique([_us(t) for w in wins for t in w[1:]])

    def below(values: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """cum[k] = how many selected values are before edges[k]."""
        return np.cumsum(np.bincount(np.searchsorted(edges, values[sel], side="right"), minlength=len(edges) + 1))

    def k(t: datetime) -> int:
        return int(np.searchsorted(edges, _us(t)))

    rows = []
    for m in METRICS:
        st, stop, breach = cols[f"{m}_status"], cols[f"{m}_stopped_at"], cols[f"{m}_breach_at"]
        met, br, na = (keep & (st == code[s]) for s in ("met", "breached", "not applicable"))
        overdue = br | (keep & (st == code["running"]))
        c_met, c_br, c_na = below(stop, met), below(stop, br), below(cols["opened_at"], na)
        # Open and breached at te: breached before te and not stopped before it.
        c_due, c_done = below(breach, overdue), below(np.maximum(breach, stop), overdue)
        for label, b0, b1, te in wins:
            rows.append({"bucket": label, "grp": ALL, "metric": m, "met": int(c_met[k(b1)] - c_met[k(b0)]),
                         "breached": int(c_br[k(b1)] - c_br[k(b0)]),
                         "open_breached": int(c_due[k(te)] - c_done[k(te)]),
                         "not_applicable": int(c_na[k(b1)] - c_na[k(b0)])})
    rows.sort(key=lambda r: (str(r["bucket"]), r["metric"]))
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def _us(t: datetime) -> int:
    """Microseconds since 1970 of a naive UTC instant (DuckDB's epoch_us)."""
    return (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _counts_sql(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period, grain: str | None,
                split: str | None) -> pd.DataFrame:
    """`counts` in SQL over the cached judgements (any split and grain)."""
    code = _codes()
    clause, params = undated(filters).where()
    if grain in (None, COMPARE):
        aggs: list[str] = []
        agg_params: dict[str, datetime] = {}
        wins = windows(period, grain)
        for i, (_, b0, b1) in enumerate(wins):
            agg_params.update({f"b0_{i}": b0, f"b1_{i}": b1, f"te_{i}": max(b0, min(b1, period.as_of))})
            for m in METRICS:
                for name, cond in (
                        ("met", _stopped_sql(m, code["met"], f"b0_{i}", f"b1_{i}")),
                        ("breached", _stopped_sql(m, code["breached"], f"b0_{i}", f"b1_{i}")),
                        ("open_breached", _open_breached_sql(m, code, f"te_{i}")),
                        ("not_applicable", f"{m}_status = {code['not applicable']} "
                                           f"AND opened_at >= $b0_{i} AND opened_at < $b1_{i}")):
                    aggs.append(f"count(*) FILTER (WHERE {cond}) AS {name}__{m}__{i}")
        body_sql = f"SELECT {split_sql(split)} AS grp, {', '.join(aggs)} FROM tickets WHERE ({clause}) GROUP BY ALL"
        wide = query(con, period.as_of, body_sql, {**agg_params, **params}).df()
        rows = [{"bucket": label, "grp": r["grp"], "metric": m,
                 **{c: int(r[f"{c}__{m}__{i}"]) for c in COUNT_COLUMNS[3:]}}
                for r in wide.to_dict("records") for i, (label, _, _) in enumerate(wins) for m in METRICS]
        return pd.DataFrame(rows, columns=COUNT_COLUMNS)
    parts = [f"""SELECT {bucket_sql(grain, f'{m}_stopped_at')} AS bucket, {split_sql(split)} AS grp, '{m}' AS metric,
        count(*) FILTER (WHERE {m}_status = {code['met']}) AS met,
        count(*) FILTER (WHERE {m}_status = {code['breached']}) AS breached,
        NULL::BIGINT AS open_breached, NULL::BIGINT AS not_applicable
        FROM tickets WHERE ({clause}) AND {_stopped_sql(m, f"{code['met']}, {code['breached']}")} GROUP BY ALL"""
             for m in METRICS]
    body_sql = " UNION ALL ".join(parts) + " ORDER BY bucket, grp, metric"
    return query(con, period.as_of, body_sql,
                 {**params, "start": period.start, "end": period.end}).df()[COUNT_COLUMNS]


def _stopped_sql(metric: str, statuses: int | str, lo: str = "start", hi: str = "end") -> str:
    """The cohort: a clock judged `statuses` (one code, or codes joined by commas) that stopped
    in [$lo, $hi) (the parameters' names)."""
    return (f"{metric}_status IN ({statuses}) AND {metric}_stopped_at >= ${lo} "
            f"AND {metric}_stopped_at < ${hi}")


def _open_breached_sql(metric: str, code: dict[str, int], te: str = "te") -> str:
    """Open and breached at $te (the parameter's name): not stopped before it, its breach instant before it."""
    overdue = ", ".join(str(code[s]) for s in _OVERDUE)
    return (f"{metric}_status IN ({overdue}) AND ({metric}_stopped_at IS NULL OR {metric}_stopped_at >= ${te}) "
            f"AND {metric}_breach_at < ${te}")


def in_cohort(frame: pd.DataFrame, metric: str, start: datetime, end: datetime) -> pd.Series:
    """The rows of an evaluation frame (sla.engine.evaluate) whose `metric` clock is in the
    cohort of [start, end): the pandas twin of _stopped_sql."""
    stopped = pd.to_datetime(frame[f"{metric}_stopped_at"])
    return frame[f"{metric}_status"].astype(str).isin(["met", "breached"]) & (stopped >= start) & (stopped < end)


def open_breached_at(frame: pd.DataFrame, metric: str, te: datetime) -> pd.Series:
    """The rows whose `metric` clock was open and breached at `te`: the twin of _open_breached_sql."""
    stopped = pd.to_datetime(frame[f"{metric}_stopped_at"])
    return (frame[f"{metric}_status"].astype(str).isin(_OVERDUE) & (stopped.isna() | (stopped >= te))
            & (pd.to_datetime(frame[f"{metric}_breach_at"]) < te))


def wilson(met: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion, in percent; (None, None) when n = 0."""
    if n <= 0:
        return None, None
    p = met / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(100 * max(0.0, centre - half), 2), round(100 * min(1.0, centre + half), 2)


def compliance_table(counted: pd.DataFrame, target_pct: float = 95.0,
                     untargeted: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """One row per metric × severity (plus "All") from `counts(..., split="severity")` for one
    period: met, breached, n, %, Wilson range, status, small sample, open breached, no target.
    `untargeted`: the (metric, severity) pairs the policy sets no target for
    (sla.policy.untargeted): their status is NO_TARGET, not NO_DATA."""
    rows = []
    for metric in METRICS:
        mine = counted[(counted["metric"] == metric) & counted["bucket"].isna()]
        for sev in [*SEVERITIES, "All"]:
            part = mine if sev == "All" else mine[mine["grp"] == sev]
            met, breached = int(part["met"].sum()), int(part["breached"].sum())
            n = met + breached
            low, high = wilson(met, n)
            pct = round(100 * met / n, 2) if n else None
            rows.append({
                "metric": metric, "severity": sev, "met": met, "breached": breached, "n": n,
                "compliance_pct": pct, "wilson_low": low, "wilson_high": high, "target_pct": target_pct,
                "status": NO_TARGET if pct is None and (metric, sev) in untargeted else _verdict(pct, target_pct, n),
                "small_sample": 0 < n < SMALL_N,
                "open_breached": int(part["open_breached"].sum()),
                "not_applicable": int(part["not_applicable"].sum()),
            })
    return pd.DataFrame(rows)


def compliance_view(table: pd.DataFrame) -> pd.DataFrame:
    """The compliance table as people read it: '89.1 % (88.4–89.6)', n, status word, small-sample note."""
    def pct(r) -> str:
        if r.compliance_pct is None or pd.isna(r.compliance_pct):
            return "—"
        return f"{r.compliance_pct:.1f} % ({r.wilson_low:.1f}–{r.wilson_high:.1f})"
    return pd.DataFrame({
        "clock": table["metric"], "severity": table["severity"],
        "compliance (95 % range)": [pct(r) for r in table.itertuples()],
        "n": table["n"], "target": table["target_pct"].map(lambda t: f"{t:g} %"),
        "status": [f"{s} (small sample)" if small else s for s, small in zip(table["status"], table["small_sample"])],
        # Not applicable: no target for the severity, cancelled, excluded or without an
        # acknowledgement — the page's "Not measured" list gives the reasons.
        "open and breached": table["open_breached"], "not measured": table["not_applicable"],
    })


def _verdict(pct: float | None, target: float, n: int) -> str:
    """met / missed against the target; "no data" without a stopped clock."""
    if pct is None:
        return NO_DATA
    return "met" if pct >= target else "missed"


def compliance_trend(counted: pd.DataFrame) -> pd.DataFrame:
    """Compliance per bucket of the clock's stop time from `counts(..., grain=...)` (weeks start
    on Monday, months on the 1st): period, metric, met, n, %, Wilson range."""
    out = []
    for r in counted.groupby(["bucket", "metric"], sort=True)[["met", "breached"]].sum().reset_index().to_dict("records"):
        met, n = int(r["met"]), int(r["met"]) + int(r["breached"])
        if n == 0:
            continue
        low, high = wilson(met, n)
        out.append({"period": pd.Timestamp(r["bucket"]), "metric": r["metric"], "met": met, "n": n,
                    "compliance_pct": round(100 * met / n, 2), "wilson_low": low, "wilson_high": high})
    return pd.DataFrame(out, columns=["period", "metric", "met", "n", "compliance_pct", "wilson_low", "wilson_high"])


_LIST_COLS = ["ticket_id", "severity", "type", "opened_at", "policy_version"]


def open_breached(frame: pd.DataFrame, te: datetime) -> pd.DataFrame:
    """Clocks open and breached at `te` (the period's end, or now), business and calendar
    minutes side by side."""
    parts = [_clock_view(frame[open_breached_at(frame, m, te)], m) for m in METRICS]
    return pd.concat(parts, ignore_index=True).sort_values("breach_at").reset_index(drop=True)


def at_risk(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Open tickets in an at-risk bucket, with time left until the breach (hours)."""
    sel = frame[frame["at_risk_bucket"].notna() & frame["status_category"].astype(str).eq("open")].copy()
    sel["hours_to_breach"] = ((pd.to_datetime(sel["breach_at"]) - pd.Timestamp(as_of)).dt.total_seconds() / 3600
                              ).round(1)
    cols = [*_LIST_COLS, "at_risk_bucket", "consumed_pct", "breach_at", "hours_to_breach",
            "escalate_next_tier", "escalate_incident_lead"]
    return sel[cols].sort_values("breach_at").reset_index(drop=True)


def breaches(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Clocks of the cohort of [start, end) that exceeded their target, most recent breach first."""
    parts = [_clock_view(frame[in_cohort(frame, m, start, end) & frame[f"{m}_status"].astype(str).eq("breached")], m)
             for m in METRICS]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("breach_at", ascending=False).reset_index(drop=True)


def _clock_view(sel: pd.DataFrame, metric: str) -> pd.DataFrame:
    view = sel[_LIST_COLS].copy()
    view.insert(1, "clock", metric)
    view["target_minutes"] = sel[f"{metric}_target_minutes"].round(1)
    view["business_minutes"] = sel[f"{metric}_business_minutes"].round(1)
    view["calendar_minutes"] = sel[f"{metric}_calendar_minutes"].round(1)
    view["paused_minutes"] = sel["paused_minutes"].round(1)
    view["breach_at"] = sel[f"{metric}_breach_at"]
    view["calendar"] = sel[f"{metric}_clock"]
    return view.reset_index(drop=True)


def versions_used(con: duckdb.DuckDBPyConnection, filters: Filters, period: Period) -> list[str]:
    """The policy versions that judged the clocks of the period's cohort and its open breaches
    (a report names them)."""
    code = _codes()
    clause, params = undated(filters).where()
    te = period.observed_end
    stopped = f"{code['met']}, {code['breached']}"
    either_sql = " OR ".join(f"({_stopped_sql(m, stopped)}) OR ({_open_breached_sql(m, code)})"
                             for m in METRICS)
    rows = query(con, period.as_of, f"SELECT DISTINCT policy_version FROM tickets WHERE ({clause}) "
                 f"AND policy_version IS NOT NULL AND ({either_sql}) ORDER BY 1",
                 {**params, "start": period.start, "end": period.end, "te": te}).fetchall()
    return [r[0] for r in rows]


def clock_summary(tl: dict) -> pd.DataFrame:
    """One row per clock of a ticket timeline: business and calendar minutes side by side."""
    ev = tl["evaluation"]
    rows = []
    for metric in METRICS:
        clock = tl["clocks"].get(metric, {})
        rows.append({
            "clock": metric, "calendar": ev.get(f"{metric}_clock"), "status": ev.get(f"{metric}_status"),
            "target_minutes": ev.get(f"{metric}_target_minutes"),
            "business_minutes": ev.get(f"{metric}_business_minutes"),
            "calendar_minutes": ev.get(f"{metric}_calendar_minutes"),
            "started": clock.get("start"), "stopped": clock.get("end"), "breach_at": ev.get(f"{metric}_breach_at"),
            "reason": ev.get(f"{metric}_reason"),
        })
    return pd.DataFrame(rows)


def history_table(tl: dict) -> pd.DataFrame:
    """The ticket's status history, each change marked when its status paused the clock."""
    pausing = {p["status"] for p in tl["pause_segments"]}
    hist = pd.DataFrame(tl["history"], columns=["event_time", "seq", "status", "team", "tier"])
    hist["pauses_clock"] = hist["status"].isin(pausing)
    return hist
