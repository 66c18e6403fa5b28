"""One seeded generator of realistic post-go-live tickets: the demo, the tests and the benchmarks.

It tells a real hypercare's story: a spike after go-live decaying to a baseline, a few outages
in the first weeks, a team that breaches its SLA at first and has settled by week four, so the
demo's closure scorecard mostly passes by the end of its window (DEMO_WINDOW_DAYS).
Vectorised with numpy and built as Arrow tables in chunks of whole days, so `write_csvs` streams
a million tickets in bounded memory and `generate` is the same data concatenated. The realism is
deliberate and asserted in tests/test_demo.py. Times are drawn on the demo's business calendar
(America/New_York, Mon-Fri 09-17, US holidays) and stored as naive UTC; tickets are censored at
the export moment (local midnight after the last day), which is why recent ones are still open."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.demo.calendar import Calendar
from analytics.demo.formats import arrow_concat as _join  # Arrow column building
from analytics.demo.formats import arrow_int_strings as _int_str
from analytics.demo.formats import arrow_null_unless as _where
from analytics.demo.formats import arrow_strings as _strings
from analytics.demo.formats import arrow_values as _arrow
from analytics.demo.formats import canonical_csv_writer
from analytics.store.schema import TICKET_COLUMNS

DEFAULT_GO_LIVE = date(2026, 9, 7)  # a Monday (and US Labor Day: a skeleton-staff go-live)
# The demo's hypercare window, extended from the seed's 14 days as real ones often are: the data
# runs 75 days, and MTBF's 30-day target can only be shown over more than 60 (two failures).
DEMO_WINDOW_DAYS = 70
DEMO_COLUMNS: tuple[str, ...] = tuple(c for c in TICKET_COLUMNS if c not in ("ticket_id", "source"))
HISTORY_COLUMNS: tuple[str, ...] = ("external_id", "event_time", "status", "team", "tier")
STATUSES = ("New", "In Progress", "Awaiting Customer", "On Hold", "Resolved", "Reopened", "Closed", "Cancelled")
STATUS_CATEGORY = dict(zip(STATUSES, ("open",) * 4 + ("resolved", "open", "closed", "cancelled")))
PAUSE_STATUSES = ("Awaiting Customer", "On Hold")
SEVERITY_NAMES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
PRIORITY_RAW = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")  # ServiceNow's spelling
TYPES = ("incident", "defect", "service_request", "question", "enhancement")
TYPE_P = (0.60, 0.18, 0.10, 0.07, 0.05)
# Severity by type (TYPES order), then for recurring incidents. An incident is SEV-1/2 only when
# it reports an outage (OUTAGES): outside them incidents are SEV-3/4, as are requests and
# questions; enhancements are all "4 - Low" (they wait for a release, not for an SLA clock).
SEV_P = ((0.0, 0.0, 0.49, 0.51), (0.028, 0.11, 0.42, 0.442), (0.0, 0.0, 0.30, 0.70), (0.0, 0.0, 0.30, 0.70),
         (0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.64, 0.36))
TEAMS = ("Service Desk", "Application Support", "Payments Engineering", "Platform Engineering", "Digital Channels")
TEAM_TIER = (0, 1, 2, 2, 2)
TIERS = ("L1", "L2", "L3")
TIER_P = ((0.0, 0.3, 0.7), (0.05, 0.4, 0.55), (0.4, 0.4, 0.2), (0.6, 0.3, 0.1))  # by severity
ASSIGNEES = (  # four per team, in TEAMS order
    "Ava Patel", "Liam Chen", "Noah Brooks", "Mia Lopez", "Ethan Ross", "Zoe Kim", "Lucas Reed", "Emma Diaz",
    "Omar Haddad", "Grace Liu", "Ben Carter", "Sofia Rossi", "Ivan Petrov", "Chloe Martin", "Raj Singh",
    "Nora Walsh", "Leo Novak", "Ella Young", "Sam Ortiz", "Maya Cohen")
SERVICES = (  # name, volume weight, L3 team (index into TEAMS), components
    ("Payments API", 0.18, 2, ("Gateway Adapter", "Refunds", "Fraud Check", "Settlement Batch")),
    ("Checkout Web", 0.22, 4, ("Cart", "Checkout Flow", "Promotions", "Address Lookup")),
    ("Identity", 0.14, 3, ("SSO", "MFA", "User Provisioning", "Password Reset")),
    ("Order Sync", 0.16, 3, ("ERP Connector", "Inventory Feed", "Message Queue", "Retry Worker")),
    ("Reporting", 0.12, 3, ("Sales Dashboard", "Data Warehouse Load", "Scheduled Exports")),
    ("Mobile App", 0.18, 4, ("iOS App", "Android App", "Push Notifications", "Login Screen")),
)
SERVICE_NAMES = tuple(s[0] for s in SERVICES)
COMPONENTS = tuple(c for s in SERVICES for c in s[3])
CATEGORIES = (  # per type, in TYPES order
    ("Software", "Performance", "Integration", "Infrastructure", "Data"), ("Software", "Data", "Usability"),
    ("Access", "Request"), ("How-to",), ("Usability", "Feature"))
PHRASES = (  # generic titles "<component>: <phrase>", per type in TYPES order
    ("intermittent errors after go-live", "slow response times", "unavailable for some users",
     "requests failing with HTTP 500", "data not refreshing", "queue backlog growing"),
    ("incorrect totals displayed", "validation message shows raw error code", "date shown in wrong time zone",
     "button does nothing on first click", "duplicate records created", "missing translation on confirmation"),
    ("access request for new team member", "unlock locked account", "add user to approver group",
     "raise export row limit"),
    ("how do I export last month's data?", "where did the old menu option go?",
     "who approves refunds above the limit?", "is the nightly job expected on weekends?"),
    ("add CSV export", "remember last used filter", "show order status history", "allow bulk update"),
)
# Recurring incidents: same service/component, varying host and number; most linked to a problem.
RECURRING = (  # service, component, category, problem, title, host prefix, hosts, number range, root cause, weight
    ("Payments API", "Gateway Adapter", "Integration", "PRB00012", "Payment gateway timeout on {host} (txn {num})",
     "pay-node-", 12, (10000, 99999), "Connection pool exhaustion at the gateway", 0.30),
    ("Order Sync", "ERP Connector", "Integration", "PRB00015", "ERP order sync failed for batch {num} on {host}",
     "sync-worker-", 6, (100000, 999999), "ERP API rate limit", 0.20),
    ("Identity", "SSO", "Access", "PRB00017", "SSO redirect loop for tenant {num} via {host}",
     "idp-", 4, (100, 999), "Expired SAML signing certificate on one IdP node", 0.15),
    ("Checkout Web", "Checkout Flow", "Performance", "PRB00019", "Checkout 502 errors on {host} (order {num})",
     "web-", 16, (100000, 999999), "Load balancer health check misconfigured", 0.15),
    ("Reporting", "Data Warehouse Load", "Data", None, "Nightly DWH load late by {num} min on {host}",
     "etl-", 3, (20, 240), "Upstream extract delayed", 0.10),
    ("Mobile App", "Push Notifications", "Software", "PRB00023", "Push notifications delayed for {num} users on {host}",
     "push-", 5, (50, 5000), "Push provider throttling", 0.10),
)
ROOT_CAUSES = ("Code defect", "Configuration error", "Capacity / performance", "Third-party dependency",
               "Data quality", "Infrastructure", "User error", "Unknown")
ROOT_CAUSE_P = (0.3, 0.2, 0.12, 0.12, 0.1, 0.08, 0.05, 0.03)
PROBLEMS = tuple(r[3] or "" for r in RECURRING) + tuple(f"PRB{30 + i:05d}" for i in range(10))

# Volume: hypercare spike decaying exponentially to the baseline, weekday and hour-of-day shape.
SPIKE, TAU_DAYS, HOLIDAY_FACTOR = 5.0, 4.0, 0.4
WEEKDAY_FACTOR = (1.1, 1.05, 1.0, 1.0, 0.9, 0.3, 0.25)
HOUR_W = ((0.15, 0.12, 0.1, 0.1, 0.12, 0.2, 0.35, 0.7, 1.4, 2.2, 2.3, 2.1,  # business day
           1.6, 1.9, 2.0, 1.8, 1.5, 1.0, 0.6, 0.45, 0.35, 0.3, 0.25, 0.2),
          (0.3, 0.25, 0.2, 0.2, 0.2, 0.25, 0.3, 0.4, 0.55, 0.7, 0.8, 0.85,  # weekend / holiday
           0.8, 0.8, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35))
# Response/resolution by severity. SEV-1/2 run 24x7 in calendar time and are slower off-hours;
# SEV-3/4 run on the business calendar and pile up after a weekend or holiday, which is what a
# business-calendar SLA engine must find. Medians are well inside the seed targets.
ACK_MEDIAN = (5.0, 9.0, 1.0, 2.5)  # minutes (SEV-1/2) | business hours (SEV-3/4); targets 15m 30m 4bh 8bh
RES_MEDIAN = (1.3, 2.6, 7.0, 16.0)  # hours (SEV-1/2) | business hours (SEV-3/4); targets 4h 8h 24bh -
RES_TYPE_FACTOR = (1.0, 1.5, 0.5, 0.35, 5.0)  # by type: enhancements wait for the next release
# The team settles: responders are slower and more erratic, and work piled up over a weekend
# waits longer, in the first weeks; by week four the SLA is met with room to spare. Factors on
# the medians, the spread and the chance of a post-weekend backlog, decaying with SETTLE_DAYS.
SETTLE_DAYS, SETTLED_SPEED, SETTLED_SIGMA, SETTLED_BACKLOG = 10.0, 0.7, 0.8, 0.2
# Outages: a few per hypercare, all in its first OUTAGE_DAYS and at most two per service, however
# many tickets there are (a platform fails on its own schedule, not per ticket raised). A share
# of the incidents opened on an outage's day report it instead: its service, SEV-1/2, opened
# while it lasts, mitigated when it ends.
OUTAGES, OUTAGE_DAYS, OUTAGE_TAU, OUTAGE_MINUTES, REPORT_SHARE, REPORT_SEV1 = 8, 28, 7.0, 30.0, 0.2, 0.25
CHUNK_TICKETS = 200_000
H = 3600.0

SCHEMA = pa.schema([(c, pa.timestamp("us") if c.endswith("_at") else pa.int32() if c.endswith("_count")
                     else pa.bool_() if c in ("pir_required", "source_sla_met") else pa.string()) for c in DEMO_COLUMNS])
HISTORY_SCHEMA = pa.schema([(c, pa.timestamp("us") if c == "event_time" else pa.string()) for c in HISTORY_COLUMNS])
# History slots per ticket, in time order, and the status each one records (-1: the pause kind).
SLOTS = ("opened", "ack", "pause", "resume", "res1", "reopen1", "res2", "reopen2", "res3", "closed", "cancelled")
SLOT_STATUS = np.array([0, 1, -1, 1, 4, 5, 4, 5, 4, 6, 7])


def _pick(rng, probs, rows: np.ndarray) -> np.ndarray:
    """One draw per element from the categorical distribution `probs[rows[i]]` (inverse CDF)."""
    cdf = np.cumsum(np.asarray(probs, float), axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((rng.random(len(rows))[:, None] > cdf[rows]).sum(axis=1), cdf.shape[1] - 1)


def _lognormal(rng, median, sigma, z=None):
    z = rng.standard_normal(np.shape(median)) if z is None else z
    return np.exp(np.log(median) + sigma * z)


def _offsets(groups) -> tuple[np.ndarray, np.ndarray, list]:
    """(start offset, size, flat list) of nested name lists, to draw "one of this group's"."""
    sizes = np.array([len(g) for g in groups])
    return np.cumsum(sizes) - sizes, sizes, [x for g in groups for x in g]


def _titles(rng, ttype, comp, tmpl) -> pa.Array:
    off, size, phrases = _offsets(PHRASES)
    out = _join(_strings(comp, COMPONENTS), ": ",
                _strings(off[ttype] + (rng.random(len(ttype)) * size[ttype]).astype(int), phrases))
    for k, (*_, pattern, prefix, hosts, (lo, hi), _rc, _w) in enumerate(RECURRING):
        mask = tmpl == k
        m = int(mask.sum())
        if m:
            fill = {"host": _join(prefix, _int_str(rng.integers(1, hosts + 1, m), 2)),
                    "num": _int_str(rng.integers(lo, hi + 1, m))}
            parts = re.split(r"\{(host|num)\}", pattern)  # literal, name, literal, name, literal
            titles = _join(*(fill[p] if i % 2 else p for i, p in enumerate(parts)))
            out = pc.replace_with_mask(out, pa.array(mask), titles)
    return out


def _local_times(rng, cal: Calendar, day: np.ndarray) -> np.ndarray:
    """Random moments of local days `day` (hour of day by day type), as seconds from the origin."""
    hour = _pick(rng, HOUR_W, (~cal.bday[day]).astype(int))
    return cal.from_local(np.datetime64(cal.go_live, "s") + day.astype("timedelta64[D]")
                          + (hour * 3600 + rng.integers(0, 3600, len(day))).astype("timedelta64[s]"))


def _outages(rng, cal: Calendar) -> dict[str, np.ndarray]:
    """The outages (OUTAGES): local day, start, end (seconds from the origin), service, and the
    last second of its day (its reports are opened that day, so chunks of whole days hold them)."""
    d = np.arange(min(cal.days, OUTAGE_DAYS))
    w = np.exp(-d / OUTAGE_TAU)
    day = np.sort(rng.choice(d, min(OUTAGES, len(d)), replace=False, p=w / w.sum()))
    start = _local_times(rng, cal, day)
    midnight = cal.from_local(np.datetime64(cal.go_live, "s") + (day + 1).astype("timedelta64[D]"))
    return {"day": day, "start": start, "end": start + _lognormal(rng, np.full(len(day), OUTAGE_MINUTES), 0.5) * 60,
            "svc": rng.permutation(np.tile(np.arange(len(SERVICES)), 2))[:len(day)],  # ≤ 2 per service
            "last": np.minimum(midnight, cal.t_end) - 60}


def _draw(rng, cal: Calendar, day: np.ndarray, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """When and what: opening times (local hour by day type → UTC), the categorical fields, and
    the outage each incident reports (-1: none) with its end."""
    n = len(day)
    a = {"opened": _local_times(rng, cal, day), "type": _pick(rng, [TYPE_P], np.zeros(n, int))}
    a["sev"] = _pick(rng, SEV_P, a["type"])
    a["svc"] = _pick(rng, [[s[1] for s in SERVICES]], np.zeros(n, int))
    comp_off, ncomp, _ = _offsets([s[3] for s in SERVICES])
    a["comp"] = comp_off[a["svc"]] + (rng.random(n) * ncomp[a["svc"]]).astype(int)
    cat_off, ncat, cat_names = _offsets(CATEGORIES)
    a["cat"] = cat_off[a["type"]] + (rng.random(n) * ncat[a["type"]]).astype(int)
    rec = (a["type"] == 0) & (rng.random(n) < 0.22)
    a["tmpl"] = np.where(rec, _pick(rng, [[r[9] for r in RECURRING]], np.zeros(n, int)), -1)
    t = a["tmpl"][rec]
    a["svc"][rec] = np.array([SERVICE_NAMES.index(r[0]) for r in RECURRING])[t]
    a["comp"][rec] = np.array([COMPONENTS.index(r[1]) for r in RECURRING])[t]
    a["cat"][rec] = np.array([cat_names.index(r[2]) for r in RECURRING])[t]
    a["sev"][rec] = _pick(rng, SEV_P, np.full(len(t), len(TYPES)))
    # Outage reports: opened while it lasts (most soon after it starts), so their impact windows
    # overlap and availability must merge them into one outage, not add them up.
    by_day = np.full(cal.days, -1)
    by_day[out["day"]] = np.arange(len(out["day"]))
    o = np.where((a["type"] == 0) & ~rec & (rng.random(n) < REPORT_SHARE), by_day[day], -1)
    f, oi = np.flatnonzero(o >= 0), o[o >= 0]
    a["svc"][f] = out["svc"][oi]
    a["comp"][f] = comp_off[a["svc"][f]] + (rng.random(len(f)) * ncomp[a["svc"][f]]).astype(int)
    a["sev"][f] = (rng.random(len(f)) >= REPORT_SEV1).astype(int)
    span = out["end"][oi] - out["start"][oi]
    a["opened"][f] = np.minimum(out["start"][oi] + rng.power(0.5, len(f)) * 0.5 * span, out["last"][oi])
    a["outage"], a["outage_end"] = o, np.where(o >= 0, out["end"][np.maximum(o, 0)], np.nan)
    perm = np.argsort(a["opened"], kind="stable")  # ticket numbers follow opening order
    a = {k: v[perm] for k, v in a.items()}
    a["opened"] = np.floor(a["opened"])
    return a


def _chunk(rng: np.random.Generator, cal: Calendar, day: np.ndarray, first_number: int, out: dict):
    """Tickets opened on local days `day` (offsets from go-live), numbered from `first_number`."""
    a = _draw(rng, cal, day, out)
    opened, ttype, sev, svc, tmpl = a["opened"], a["type"], a["sev"], a["svc"], a["tmpl"]
    n, nan = len(opened), np.full(len(opened), np.nan)
    rand, rec = lambda: rng.random(n), tmpl >= 0  # noqa: E731
    major, report = sev <= 1, a["outage"] >= 0  # the SEV-1/2 incidents are the outage reports
    day_f = np.maximum(opened - 86400.0, 0) / 86400.0  # days since go-live (origin = the day before)
    settle = np.exp(-day_f / SETTLE_DAYS)
    # the hypercare crush slows everyone down at first, then a team still learning the system
    load = (1 + 0.5 * np.exp(-day_f / TAU_DAYS)) * (SETTLED_SPEED + (1 - SETTLED_SPEED) * settle)
    spread, piled = SETTLED_SIGMA + (1 - SETTLED_SIGMA) * settle, SETTLED_BACKLOG + (1 - SETTLED_BACKLOG) * settle
    off = ~cal.is_bus[cal.minute(opened)]  # outside business hours
    after_break = cal.badd(opened, np.full(n, 4.0)) - opened > 24 * H  # a 4 bh clock spans a break
    # --- acknowledge, resolve, pause, cancel, reopen, close -------------------------------
    z = rng.standard_normal(n)
    med = np.array(ACK_MEDIAN)[sev]
    backlog = np.where(after_break & (rand() < 0.55 * piled), rng.uniform(3, 9, n), 0)
    ack = np.where(major, opened + _lognormal(rng, med, 0.65 * spread, z) * 60 * np.where(off, 2.2, 1.0) * load,
                   cal.badd(opened, _lognormal(rng, med, 0.8 * spread, z) * load + backlog) + rng.uniform(0, 59, n))
    ack[rand() < 0.03] = np.nan  # never acknowledged: auto-resolved, or went straight to a fix
    z = 0.5 * z + 0.866 * rng.standard_normal(n)  # slow responders tend to be slow resolvers
    med = np.array(RES_MEDIAN)[sev] * np.array(RES_TYPE_FACTOR)[ttype]
    backlog = np.where(after_break & (rand() < 0.5 * piled), rng.uniform(6, 18, n), 0)
    res1 = np.where(major, opened + _lognormal(rng, med, 0.6 * spread, z) * H * np.where(off, 1.5, 1.0) * load,
                    cal.badd(opened, _lognormal(rng, med, 0.75 * spread, z) * load + backlog) + rng.uniform(0, 59, n))
    # the outage's end brings service back for all its reports, each answered by then at the latest
    ack = np.where(report & (ack > a["outage_end"]), a["outage_end"], ack)
    back = np.fmax(a["outage_end"], ack)
    res1 = np.where(report, back + _lognormal(rng, np.full(n, 1.0), 0.8) * H, res1)  # then the fix
    res1 = np.fmax(res1, ack + rng.uniform(60, 900, n))
    cancelled = rand() < 0.03
    cancel_at = np.fmax(opened + _lognormal(rng, np.full(n, 3.0), 1.0) * H, ack + rng.uniform(300, 7200, n))
    mitig = np.where(report & ~cancelled, back, np.nan)
    paused = ~major & ~np.isnan(ack) & ~cancelled & (rand() < 0.14)  # 24x7 clocks don't pause here
    pause_kind = (rand() < 0.4).astype(int)  # Awaiting Customer / On Hold
    p_start = np.where(paused, ack + rng.uniform(0.1, 0.6, n) * (res1 - ack), np.nan)
    p_dur = np.where(paused, _lognormal(rng, np.full(n, 18.0), 0.9) * H, 0)
    res1 = res1 + p_dur
    u = rand()
    nre = np.where(cancelled, 0, (u < 0.06).astype(int) + (u < 0.012))
    # a SEV-1/2 fix that did not hold shows within hours (monitoring), and the 24x7 team redoes it
    gap, redo = np.where(major, 2.0, 18.0), np.where(major, 1.0, 5.0)
    reo1 = np.where(nre >= 1, res1 + _lognormal(rng, gap, 0.8) * H, np.nan)
    res2 = reo1 + _lognormal(rng, redo, 0.9) * H
    reo2 = np.where(nre >= 2, res2 + _lognormal(rng, gap, 0.8) * H, np.nan)
    res3 = reo2 + _lognormal(rng, redo, 0.9) * H
    last_res = np.choose(nre, [res1, res2, res3])
    # ServiceNow-style auto-close 5 days after resolution, or closed by hand earlier.
    close = last_res + np.where(rand() < 0.7, 5 * 86400 + rng.uniform(0, 600, n), rng.uniform(0.3, 3, n) * 86400)
    slots = np.floor(np.column_stack([
        opened, ack, p_start, p_start + p_dur, np.where(cancelled, nan, res1), reo1, res2, reo2, res3,
        np.where(cancelled, nan, close), np.where(cancelled, cancel_at, nan)]))
    # --- the snapshot at the export moment ----------------------------------------------
    valid = slots <= cal.t_end
    last = len(SLOTS) - 1 - np.argmax(valid[:, ::-1], axis=1)
    status = np.where(last == 2, 2 + pause_kind, SLOT_STATUS[last])
    done = (status == 4) | (status == 6)
    res_final = np.where(valid[:, 8], slots[:, 8], np.where(valid[:, 6], slots[:, 6], slots[:, 4]))
    is_new = status == 0  # not picked up yet: still with the service desk, unassigned
    tier = np.where((ttype >= 2) & (rand() < 0.8), 0, _pick(rng, TIER_P, sev))
    team = np.where(tier == 2, np.array([s[2] for s in SERVICES])[svc], tier)
    team, tier = np.where(is_new, 0, team), np.where(is_new, 0, tier)
    # --- incident fields: detection, impact, problems, changes, PIRs ----------------------
    detected = np.where(report, opened - np.floor(rng.uniform(60, 600, n)), np.nan)
    impact = detected - np.floor(_lognormal(rng, np.full(n, 150.0), 1.0))  # MTTD median 2.5 min
    mitig = np.where(np.floor(mitig) <= cal.t_end, np.floor(mitig), np.nan)
    has_prb = np.array([r[3] is not None for r in RECURRING])[np.maximum(tmpl, 0)]
    prob = np.where(rec & has_prb & (rand() < 0.75), tmpl,
                    np.where(report & (rand() < 0.75), len(RECURRING) + a["outage"] % 10, -1))
    rc = np.where(rec, len(ROOT_CAUSES) + np.maximum(tmpl, 0), _pick(rng, [ROOT_CAUSE_P], np.zeros(n, int)))
    chg = (ttype <= 1) & (rand() < np.where(day_f < 14, 0.22, 0.08))  # releases cause early incidents
    # PIR (seed 003): SEV-1 always; SEV-2 when it lasted more than 4 h; due in 5/10 business days.
    end = np.where(done, res_final, cal.t_end)
    pir_req = (status != 7) & ((sev == 0) | ((sev == 1) & (end - np.fmin(impact, opened) > 4 * H)))
    pir_done = np.floor(cal.badd(res_final, _lognormal(rng, np.full(n, 20.0), 0.7)))
    pir_done = np.where(pir_req & done & (rand() < 0.85) & (pir_done <= cal.t_end), pir_done, np.nan)
    cols = {
        "type": _strings(ttype, TYPES), "title": _titles(rng, ttype, a["comp"], tmpl),
        "severity": _strings(sev, SEVERITY_NAMES), "priority_raw": _strings(sev, PRIORITY_RAW),
        "status": _strings(status, STATUSES),
        "status_category": _strings(status, [STATUS_CATEGORY[s] for s in STATUSES]),
        "service": _strings(svc, SERVICE_NAMES), "component": _strings(a["comp"], COMPONENTS),
        "category": _strings(a["cat"], _offsets(CATEGORIES)[2]), "team": _strings(team, TEAMS),
        "assignee": _strings(team * 4 + rng.integers(0, 4, n), ASSIGNEES, is_new), "tier": _strings(tier, TIERS),
        "opened_at": opened, "impact_started_at": impact, "detected_at": detected,
        "acknowledged_at": np.where(valid[:, 1], slots[:, 1], np.nan), "mitigated_at": mitig,
        # a few exports lose resolved_at; the history keeps the Resolved row
        "resolved_at": np.where(done & (rand() >= 0.015), res_final, np.nan),
        "closed_at": np.where(status == 6, slots[:, 9], np.where(status == 7, slots[:, 10], np.nan)),
        "reopen_count": valid[:, 5].astype(np.int32) + valid[:, 7],
        "reassignment_count": (np.where(tier > 0, 1 + (rand() < 0.3) + (rand() < 0.08), 0) + np.where(  # L1 moves too
            (tier == 0) & ~is_new, np.digitize(np.random.default_rng([first_number, n, 2]).random(n), [0.75, 0.95]), 0)).astype(np.int32),
        "problem_id": _strings(np.maximum(prob, 0), PROBLEMS, prob < 0),
        "root_cause": _strings(rc, ROOT_CAUSES + tuple(r[8] for r in RECURRING), ~(done & (ttype <= 1))),
        "change_id": _where(chg, _join("CHG00", _int_str(rng.integers(30100, 30500, n)))),
        "pir_required": pir_req, "pir_completed_at": pir_done, "source_sla_met": np.full(n, None),
    }
    rel, sched = np.floor(np.maximum(opened - 24 * H, 0) / (672 * H)) + 1, np.random.default_rng([first_number, n]).random(n)
    sched = ((ttype == 4) & (sched < 0.75)) | ((ttype == 1) & (sev >= 2) & (sched < 0.5))
    cols["target_release"] = _where(sched, _join("Release ", _int_str(rel.astype(np.int64))))
    cols["due_at"] = np.where(sched, (33 + rel * 672) * H, np.nan)  # 4-weekly releases; own rng: nothing else moved
    ids = _join("HC-", _int_str(np.arange(first_number, first_number + n), 6))
    cols["pir_url"] = _where(~np.isnan(pir_done), _join("https://wiki.example.com/hypercare/pir/", ids))
    tickets = pa.table([ids] + [_arrow(cal.origin, cols[c], SCHEMA.field(c).type) for c in DEMO_COLUMNS[1:]],
                       schema=SCHEMA)
    # --- history: one row per status change up to the export moment --------------------------
    rows, slot = np.nonzero(valid)  # row-major: grouped by ticket, slots in time order
    st = np.where(slot == 2, 2 + pause_kind[rows], SLOT_STATUS[slot])
    history = pa.table([ids.take(pa.array(rows)), _arrow(cal.origin, slots[rows, slot], pa.timestamp("us")),
                        _strings(st, STATUSES), _strings(np.where(slot == 0, 0, team[rows]), TEAMS),
                        _strings(np.where(slot == 0, 0, tier[rows]), TIERS)], schema=HISTORY_SCHEMA)
    return tickets, history


def _chunks(n_tickets: int, seed: int, go_live: date = DEFAULT_GO_LIVE,
            days: int = 75) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Chunks of whole local days (≤ CHUNK_TICKETS unless one day is bigger), each with its own
    seeded stream, so `generate` and `write_csvs` produce identical data in bounded memory."""
    if days < 1:
        raise ValueError("days must be at least 1")
    cal = Calendar(go_live, days)
    out = _outages(np.random.default_rng([seed, 2]), cal)
    day_index = np.arange(days)
    w = (1 + SPIKE * np.exp(-day_index / TAU_DAYS)) * np.where(
        cal.holiday[:days], HOLIDAY_FACTOR, np.array(WEEKDAY_FACTOR)[cal.weekday[:days]])
    counts = np.random.default_rng([seed, 0]).multinomial(n_tickets, w / w.sum())
    start, acc, first, k = 0, 0, 1, 0
    for d in range(days + 1):
        if d == days or (acc and acc + counts[d] > CHUNK_TICKETS):
            if acc:
                yield _chunk(np.random.default_rng([seed, 1, k]), cal,
                             np.repeat(np.arange(start, d), counts[start:d]), first, out)
                first, k = first + acc, k + 1
            start, acc = d, 0
        if d < days:
            acc += counts[d]


def generate(n_tickets: int, seed: int = 42, go_live: date = DEFAULT_GO_LIVE,
             days: int = 75) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tickets, history). tickets: one row per ticket, every TICKET_COLUMNS column except
    ticket_id and source (external_id "HC-000001", numbered in opening order); timestamps are
    tz-naive datetime64[us] meaning UTC. history: external_id, event_time, status, team, tier, one
    row per status change (New → In Progress → (Awaiting Customer/On Hold → In Progress) →
    Resolved (→ Reopened → Resolved)* → Closed, or → Cancelled), up to the export moment.

    Deliberate gaps: ~3 % never acknowledged (no In Progress row), ~1.5 % of resolved/closed
    tickets lack resolved_at although their history has the Resolved row."""
    parts = list(_chunks(n_tickets, seed, go_live, days))
    tickets = pa.concat_tables([p[0] for p in parts]) if parts else SCHEMA.empty_table()
    history = pa.concat_tables([p[1] for p in parts]) if parts else HISTORY_SCHEMA.empty_table()
    return tickets.to_pandas(), history.to_pandas()


def write_csvs(directory: Path, n_tickets: int, seed: int = 42, **kw) -> tuple[Path, Path]:
    """Write tickets.csv and history.csv (canonical header, UTC 'YYYY-MM-DD HH:MM:SS', empty =
    missing) chunk by chunk, so memory stays bounded; returns (tickets_path, history_path).
    kw: go_live, days (as for `generate`, which returns the same rows)."""
    (directory := Path(directory)).mkdir(parents=True, exist_ok=True)
    tpath, hpath = directory / "tickets.csv", directory / "history.csv"
    with open(tpath, "wb") as tf, open(hpath, "wb") as hf:
        (tw, ts), (hw, hs) = canonical_csv_writer(tf, SCHEMA), canonical_csv_writer(hf, HISTORY_SCHEMA)
        for tickets, history in _chunks(n_tickets, seed, **kw):
            tw.write_table(tickets.cast(ts))
            hw.write_table(history.cast(hs))
        tw.close()
        hw.close()
    return tpath, hpath
