"""Recurrence clusters (tickets that are the same failure coming back) and problem candidates.

How tickets are grouped (docs/recurrence.md has the full rules):
1. Block by service and component: tickets of different services (or components) never share
   a cluster.
2. Signature: the normalised title (analytics/recurrence/titles.py); a ticket without a title
   (e.g. the ServiceNow event log) uses its category and component instead.
3. Exact grouping on (service, signature), in SQL over distinct keys.
4. Leader merging: within a service, signatures are visited oldest first (first opening, then
   text); each joins the most similar existing representative when the token-sort similarity
   (rapidfuzz, 0..1) is at least the threshold, else it becomes a representative itself.
   Field signatures (no title) only ever merge exactly.
Same input and threshold -> same clusters; cluster_id is a hash of (service, component,
representative).

The assignment lives in `recurrence_signatures` / `recurrence_clusters` (one row per distinct
(service, title, category, component) key) and is kept current by `update_clusters`; when the
stored assignment is missing, stale or for another threshold, it is computed on the fly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb
import pandas as pd
from rapidfuzz import fuzz, process

from analytics.recurrence import rank
from analytics.recurrence.titles import (
    RULES_VERSION,
    codes,
    comparable,
    display_label,
    field_signature,
    is_field_signature,
    normalise_many,
)
from analytics.store import audit, db
from analytics.store.filters import UNMAPPED, Filters

DEFAULT_THRESHOLD = 0.85
THRESHOLD_SETTING = "recurrence_threshold"
DEFAULT_MIN_TICKETS = 3  # problem candidate: at least k tickets ...
DEFAULT_WINDOW_DAYS = 30  # ... opened within d days, and no linked problem
_KEYS = ("service", "title", "category", "component")
_LIVE_MAP = "rc_live_map"  # name of the registered DataFrame when computed on the fly

DEFINITIONS: dict[str, str] = {
    "clusters": (
        "Recurrence cluster: filtered tickets of one service whose normalised titles (ids, hosts, "
        "numbers, dates removed) are identical or at least as similar as the threshold (token-sort "
        "similarity 0–1); tickets without a title group by category and component. MTBF = mean gap "
        "between consecutive openings; downtime = sum of impact windows (impact start to "
        "mitigated, else resolved; tickets without an impact start or an end add none)."
    ),
    "impact": (
        f"Impact (the order of the list): tickets × (1 + downtime hours) × recency, where recency "
        f"halves for every {rank.RECENCY_HALF_DAYS} days the cluster was last seen before the newest "
        "ticket in view — many, long and recent outranks few, short and old."
    ),
    "candidates": (
        "Problem candidate: a cluster with at least k tickets opened within d days (any d-day "
        "window, both ends included) and no linked problem id on any of its tickets."
    ),
    "kinds": (
        f"Kinds per service: new = first seen within the last {rank.NEW_DAYS} days of the filtered data; "
        f"frequent = at least {rank.FREQUENT_MIN_TICKETS} tickets and on average one every "
        f"{rank.FREQUENT_EVERY_DAYS} days since first seen; rare = every other cluster."
    ),
}
_KEY_SQL = ", ".join(f"coalesce({k}, '') AS {k}" for k in _KEYS)
_JOIN_SQL = " AND ".join(f"r.{k} = coalesce(f.{k}, '')" for k in _KEYS)
_MAP_COLUMNS = [*_KEYS, "signature", "cluster_id", "representative"]
_BLOCK_SIG = ["service", "component", "signature"]


def cluster_id(service: str, component: str, representative: str) -> str:
    """Stable id of a cluster: "RC-" + 12 hex digits of sha1(service, component, representative)."""
    digest = hashlib.sha1(f"{service}\x1f{component}\x1f{representative}".encode()).hexdigest()
    return f"RC-{digest[:12]}"


def default_threshold(con: duckdb.DuckDBPyConnection) -> float:
    """The setting "recurrence_threshold", else DEFAULT_THRESHOLD."""
    raw = db.get_setting(con, THRESHOLD_SETTING)
    try:
        return check_threshold(float(raw)) if raw is not None else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD


def check_threshold(threshold: float) -> float:
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"The similarity threshold must be between 0 and 1, not {threshold}.")
    return round(float(threshold), 4)


# --- assignment -------------------------------------------------------------------------


def _distinct_keys(cur: duckdb.DuckDBPyConnection, where_sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Distinct (service, title, category, component) with first opening, with signatures."""
    keys = cur.execute(
        f"SELECT {_KEY_SQL}, min(opened_at) AS first_seen FROM tickets t WHERE {where_sql} "
        "GROUP BY ALL ORDER BY ALL", params).df()
    norm = normalise_many(keys["title"])
    sig = keys["title"].map(norm)
    blank = sig == ""
    if blank.any():
        sig[blank] = [field_signature(c, k) for c, k in
                      zip(keys.loc[blank, "category"], keys.loc[blank, "component"], strict=True)]
    keys["signature"] = sig.astype(object)
    return keys


def _assign(keys: pd.DataFrame, threshold: float,
            reps: dict[tuple[str, str], list[str]] | None = None
            ) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Leader merging of the keys' signatures per (service, component) block, oldest first.

    `reps`: existing representatives per block (incremental update). Returns the map
    (_MAP_COLUMNS) and the new (service, component, representative) triples.
    """
    reps = {blk: list(r) for blk, r in (reps or {}).items()}
    groups = (keys.groupby(["service", "component", "signature"], sort=False)["first_seen"].min()
              .reset_index().sort_values(["service", "component", "first_seen", "signature"],
                                         na_position="last", kind="stable"))
    cutoff = threshold * 100
    rep_of: dict[tuple[str, str, str], str] = {}
    new: list[tuple[str, str, str]] = []
    for block, part in groups.groupby(["service", "component"], sort=True):
        known = reps.setdefault(block, [])
        known_set = set(known)
        # Titled representatives by their HTTP codes: only titles with the same codes may merge.
        titled: dict[frozenset[str], tuple[list[str], list[str]]] = {}
        for r in known:
            if not is_field_signature(r):
                reps_, choices = titled.setdefault(codes(r), ([], []))
                reps_.append(r)
                choices.append(comparable(r))
        for sig in part["signature"]:
            rep = sig if sig in known_set else None
            same = titled.setdefault(codes(sig), ([], []))
            if rep is None and same[1] and not is_field_signature(sig):
                hit = process.extractOne(comparable(sig), same[1], scorer=fuzz.token_sort_ratio,
                                         score_cutoff=cutoff)
                rep = same[0][hit[2]] if hit else None
            if rep is None:  # a new representative
                rep = sig
                known.append(sig)
                known_set.add(sig)
                new.append((*block, sig))
                if not is_field_signature(sig):
                    same[0].append(sig)
                    same[1].append(comparable(sig))
            rep_of[(*block, sig)] = rep
    out = keys[list(_KEYS) + ["signature"]].copy()
    out["representative"] = [rep_of[k] for k in zip(out["service"], out["component"], out["signature"],
                                                    strict=True)]
    out["cluster_id"] = [cluster_id(*k) for k in zip(out["service"], out["component"], out["representative"],
                                                     strict=True)]
    return out[_MAP_COLUMNS], new


def compute_map(con: duckdb.DuckDBPyConnection, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The assignment of every ticket key to a cluster, computed from scratch (not stored)."""
    keys = _distinct_keys(con.cursor(), "TRUE", {})
    return _assign(keys, check_threshold(threshold))[0]


RULES_SETTING = "recurrence_rules_version"


def stored_threshold(con: duckdb.DuckDBPyConnection) -> float | None:
    """The threshold of the stored assignment, None when nothing is stored or when it was made
    by other normalisation rules (recurrence.titles.RULES_VERSION): then it is rebuilt."""
    if db.get_setting(con, RULES_SETTING) != str(RULES_VERSION):
        return None
    rows = con.cursor().execute("SELECT min(threshold) FROM recurrence_clusters").fetchall()
    return rows[0][0]


def stored_is_current(con: duckdb.DuckDBPyConnection, threshold: float) -> bool:
    """True when the stored assignment uses `threshold` and covers every ticket key."""
    if stored_threshold(con) != check_threshold(threshold):
        return False
    missing = con.cursor().execute(
        f"SELECT count(*) FROM tickets f WHERE NOT EXISTS "
        f"(SELECT 1 FROM recurrence_signatures r WHERE {_JOIN_SQL})").fetchall()[0][0]
    return missing == 0


def update_clusters(con: duckdb.DuckDBPyConnection, dataset_id: int | None = None,
                    threshold: float | None = None) -> dict[str, Any]:
    """Bring the stored cluster assignment up to date in its own transaction (see `update_in`)."""
    with audit.transaction(con) as cur:  # derived from the tickets: no audit record of its own
        return update_in(cur, dataset_id, threshold)


def update_in(cur: duckdb.DuckDBPyConnection, dataset_id: int | None = None,
              threshold: float | None = None) -> dict[str, Any]:
    """Bring the stored cluster assignment up to date inside the caller's transaction on `cur`.

    With `dataset_id`, only that upload's tickets whose key (service, title, category,
    component) is not stored yet are normalised and assigned: a known (service, signature)
    keeps its cluster, a new signature is matched against the existing representatives of its
    service only. Without it (or when nothing is stored, or the threshold differs) everything
    is rebuilt. An upload runs this in its own transaction, so its rows and their clusters are
    one outcome. Keys: mode ("full"/"incremental"), keys_added, clusters_added, threshold.
    """
    threshold = check_threshold(threshold if threshold is not None else default_threshold(cur))
    full = dataset_id is None or stored_threshold(cur) != threshold
    new: list[tuple[str, str, str]] = []
    if full:
        mapping, new = _assign(_distinct_keys(cur, "TRUE", {}), threshold)
    else:
        assert dataset_id is not None  # not `full`, so an upload's dataset was given
        keys = _distinct_keys(
            cur, f"dataset_id = $dataset_id AND NOT EXISTS (SELECT 1 FROM recurrence_signatures r "
            f"WHERE {_JOIN_SQL.replace('f.', 't.')})", {"dataset_id": int(dataset_id)})
        mapping = pd.DataFrame(columns=_MAP_COLUMNS, dtype=object)
        if len(keys):  # an upload that brings no new key (e.g. only status changes) has nothing to assign
            mapping, new = _assign_incremental(cur, keys, threshold)
    if full:
        cur.execute("DELETE FROM recurrence_signatures")
        cur.execute("DELETE FROM recurrence_clusters")
        # On `cur`, inside the caller's transaction (db.set_setting would take another cursor).
        cur.execute("INSERT INTO settings VALUES ($rules_setting, $rules_version) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    {"rules_setting": RULES_SETTING, "rules_version": str(RULES_VERSION)})
    if len(mapping):
        cur.register("rc_new_map", mapping)
        cur.execute(f"INSERT INTO recurrence_signatures SELECT {', '.join(_MAP_COLUMNS)} FROM rc_new_map")
        cur.unregister("rc_new_map")
    if new:
        seq = cur.execute("SELECT coalesce(max(created_seq), 0) FROM recurrence_clusters").fetchall()[0][0]
        clusters = pd.DataFrame(new, columns=["service", "component", "representative"], dtype=object)
        clusters["cluster_id"] = [cluster_id(*k) for k in new]
        clusters["created_seq"] = range(seq + 1, seq + 1 + len(new))
        cur.register("rc_new_clusters", clusters)
        cur.execute("INSERT INTO recurrence_clusters SELECT cluster_id, service, component, "
                    "representative, $threshold, created_seq FROM rc_new_clusters", {"threshold": threshold})
        cur.unregister("rc_new_clusters")
    return {"mode": "full" if full else "incremental", "keys_added": len(mapping),
            "clusters_added": len(new), "threshold": threshold}


def _assign_incremental(cur: duckdb.DuckDBPyConnection, keys: pd.DataFrame, threshold: float
                        ) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """New keys: a stored (service, component, signature) keeps its cluster, the rest are merged."""
    known = _known_signatures(cur, keys)
    reps: dict[tuple[str, str], list[str]] = {}
    for service, component, rep in cur.execute(
            "SELECT service, component, representative FROM recurrence_clusters "
            "ORDER BY created_seq").fetchall():
        reps.setdefault((service, component), []).append(rep)
    unknown = keys.merge(known, on=_BLOCK_SIG, how="left", indicator=True)
    todo = keys[(unknown["_merge"] == "left_only").to_numpy()]
    mapping, new = _assign(todo, threshold, reps)
    if len(known):
        done = keys[(unknown["_merge"] == "both").to_numpy()].merge(known, on=_BLOCK_SIG)
        mapping = pd.concat([mapping, done[_MAP_COLUMNS]], ignore_index=True)
    return mapping, new


def _known_signatures(cur: duckdb.DuckDBPyConnection, keys: pd.DataFrame) -> pd.DataFrame:
    """Stored (service, component, signature) -> (cluster_id, representative) for the keys."""
    cur.register("rc_keys", keys[_BLOCK_SIG].drop_duplicates())
    return cur.execute(
        "SELECT DISTINCT r.service, r.component, r.signature, r.cluster_id, r.representative "
        "FROM recurrence_signatures r JOIN rc_keys k USING (service, component, signature)").df()


# --- clusters ---------------------------------------------------------------------------


def clusters(con: duckdb.DuckDBPyConnection, filters: Filters = Filters(),
             threshold: float | None = None, window_days: int = DEFAULT_WINDOW_DAYS,
             min_tickets: int = 1) -> pd.DataFrame:
    """One row per cluster of the filtered tickets, highest impact first (see DEFINITIONS).

    Columns: cluster_id, label (representative normalised title, or the fields of titleless
    tickets: display_label), example_title, service, component, tickets, impact, first_seen, last_seen, span_days, mtbf_hours,
    downtime_hours, max_in_window (most tickets in any `window_days` window), variants
    (distinct signatures merged), services, severities, problem_ids, ticket_ids (lists, ticket
    ids in opening order), kind (frequent/rare/new), why.
    """
    threshold = check_threshold(threshold if threshold is not None else default_threshold(con))
    cur = con.cursor()
    if stored_is_current(con, threshold):
        map_sql = "recurrence_signatures"
    else:
        cur.register(_LIVE_MAP, compute_map(con, threshold))
        map_sql = _LIVE_MAP
    clause, params = filters.where("f")
    df = cur.execute(
        f"""WITH m AS (
            SELECT r.cluster_id, r.representative, r.signature, f.ticket_id, f.title, r.service, r.component,
                   coalesce(f.severity, $unmapped) AS severity, nullif(trim(f.problem_id), '') AS problem_id,
                   f.opened_at,
                   greatest(date_diff('second', f.impact_started_at,
                            coalesce(f.mitigated_at, f.resolved_at)), 0) / 3600.0 AS down_h
            FROM tickets f JOIN {map_sql} r ON {_JOIN_SQL} WHERE {clause}),
        w AS (SELECT cluster_id, max(n) AS max_in_window FROM (
                SELECT cluster_id, count(*) OVER (PARTITION BY cluster_id ORDER BY opened_at
                    RANGE BETWEEN CURRENT ROW AND to_days(CAST($window_days AS INTEGER)) FOLLOWING) AS n
                FROM m WHERE opened_at IS NOT NULL) GROUP BY cluster_id)
        SELECT m.cluster_id, any_value(representative) AS label, min(title) AS example_title,
               any_value(service) AS service, any_value(component) AS component, count(*) AS tickets, min(opened_at) AS first_seen,
               max(opened_at) AS last_seen, coalesce(sum(down_h), 0) AS downtime_hours,
               coalesce(any_value(w.max_in_window), 0) AS max_in_window,
               count(DISTINCT signature) AS variants,
               list(DISTINCT service ORDER BY service) AS services,
               list(DISTINCT severity ORDER BY severity) AS severities,
               coalesce(list(DISTINCT problem_id ORDER BY problem_id)
                        FILTER (WHERE problem_id IS NOT NULL), []) AS problem_ids,
               list(ticket_id ORDER BY opened_at NULLS LAST, ticket_id) AS ticket_ids
        FROM m LEFT JOIN w USING (cluster_id)
        GROUP BY m.cluster_id HAVING count(*) >= $min_tickets
        ORDER BY tickets DESC, first_seen NULLS LAST, m.cluster_id""",
        {**params, "unmapped": UNMAPPED, "window_days": int(window_days), "min_tickets": int(min_tickets)},
    ).df()
    return _finish(df, threshold)


def _finish(df: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Derived columns: span, MTBF, kind, why; stable dtypes when empty."""
    df["tickets"] = df["tickets"].astype("int64")
    df["max_in_window"] = df["max_in_window"].astype("int64")
    df["variants"] = df["variants"].astype("int64")
    span = (pd.to_datetime(df["last_seen"]) - pd.to_datetime(df["first_seen"])).dt.total_seconds()
    df["span_days"] = (span / 86400).astype("float64")
    df["mtbf_hours"] = (span / 3600 / (df["tickets"] - 1).where(df["tickets"] > 1)).astype("float64")
    df["downtime_hours"] = df["downtime_hours"].astype("float64")
    df["kind"] = rank.kinds(df)
    df["why"] = [rank.why(s, c, lab, v, threshold) for s, c, lab, v in
                 zip(df["service"], df["component"], df["label"], df["variants"], strict=True)]
    df["label"] = [display_label(lab, svc) for lab, svc in zip(df["label"], df["service"], strict=True)]
    df["impact"] = rank.impact(df)
    order = ["cluster_id", "label", "example_title", "service", "component", "tickets", "impact", "first_seen",
             "last_seen", "span_days", "mtbf_hours", "downtime_hours", "max_in_window", "variants", "kind",
             "services", "severities", "problem_ids", "ticket_ids", "why"]
    df = df.sort_values(["impact", "tickets", "cluster_id"], ascending=[False, False, True], kind="stable")
    return df[order].reset_index(drop=True)


def cluster_tickets(con: duckdb.DuckDBPyConnection, ticket_ids: list[str]) -> pd.DataFrame:
    """The tickets of one cluster (drill-down), oldest first.

    Columns: ticket_id, opened_at, severity, title, service, component, category, status,
    problem_id, root_cause, reopen_count.
    """
    cur = con.cursor()
    cur.register("rc_ids", pd.DataFrame({"ticket_id": list(ticket_ids)}, dtype=object))
    return cur.execute(
        "SELECT t.ticket_id, opened_at, severity, title, service, component, category, status, "
        "problem_id, root_cause, reopen_count FROM tickets t JOIN rc_ids USING (ticket_id) "
        "ORDER BY opened_at NULLS LAST, ticket_id").df()


# --- derived views ----------------------------------------------------------------------


def recurring(df: pd.DataFrame, min_tickets: int = 2) -> pd.DataFrame:
    """Only the clusters with at least `min_tickets` tickets."""
    return df[df["tickets"] >= min_tickets].reset_index(drop=True)


def problem_candidates(df: pd.DataFrame, min_tickets: int = DEFAULT_MIN_TICKETS) -> pd.DataFrame:
    """Clusters (from `clusters(..., window_days=d)`) with at least `min_tickets` tickets in a
    d-day window and no linked problem id, highest impact first."""
    mask = (df["max_in_window"] >= int(min_tickets)) & (df["problem_ids"].map(len) == 0)
    return df[mask].sort_values(["impact", "max_in_window", "cluster_id"],
                                ascending=[False, False, True]).reset_index(drop=True)


def kinds_by_service(df: pd.DataFrame) -> pd.DataFrame:
    """Columns service, frequent, rare, new, clusters: cluster kinds per service."""
    cols = ["frequent", "rare", "new"]
    if df.empty:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c != "service" else object)
                             for c in ["service", *cols, "clusters"]})
    # Tickets without a service have the service "" here (the clusters' key): named as elsewhere.
    service = df["service"].fillna("").astype(str).str.strip().replace("", "(no service)")
    out = pd.crosstab(service.rename("service"), df["kind"]).reindex(columns=cols, fill_value=0)
    out["clusters"] = out.sum(axis=1)
    return out.reset_index().sort_values(["frequent", "clusters", "service"], ascending=[False, False, True],
                                         ignore_index=True).rename_axis(columns=None)
