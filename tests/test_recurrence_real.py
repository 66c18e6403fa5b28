"""Recurrence clusters on the real public exports: agreement with an independent grouping.

Pairwise agreement: a pair of tickets is "true" when the reference puts both in one group and
"predicted" when the clusters do; precision = true ∩ predicted / predicted, recall = true ∩
predicted / true. The figures are printed (run with -s) for the report.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.ingest.pipeline import ingest_file
from analytics.recurrence import clustering
from analytics.recurrence.titles import normalise_title
from analytics.store.auth import local_operator

KEYS = ["service", "title", "category", "component"]


def _pairs(labels: pd.Series) -> int:
    sizes = labels.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise(df: pd.DataFrame, truth: str, predicted: str) -> tuple[float, float]:
    """(precision, recall) of `predicted` groups against `truth` groups over the rows of df."""
    both = _pairs(df[truth].astype(str) + "\x1f" + df[predicted].astype(str))
    return both / max(_pairs(df[predicted]), 1), both / max(_pairs(df[truth]), 1)


def _assigned(con) -> pd.DataFrame:
    tickets = con.execute(
        "SELECT ticket_id, coalesce(service, '') AS service, coalesce(title, '') AS title, "
        "coalesce(category, '') AS category, coalesce(component, '') AS component, "
        "nullif(trim(problem_id), '') AS problem_id FROM tickets").df()
    out = tickets.merge(clustering.compute_map(con), on=KEYS, how="left")
    assert out["cluster_id"].notna().all() and len(out) == len(tickets)
    return out


def test_servicenow_clusters_against_problem_ids(con, real_data):
    ingest_file(con, real_data / "servicenow-incident-event-log" / "incident_event_log.csv.gz",
                uploaded_by=local_operator("local"))
    df = _assigned(con)
    linked = df.dropna(subset=["problem_id"])  # the only tickets with a reference grouping
    precision, recall = pairwise(linked, "problem_id", "cluster_id")
    # Chance level: how often two random linked tickets share a problem id.
    base = _pairs(linked["problem_id"]) / (len(linked) * (len(linked) - 1) / 2)
    print(f"\nServiceNow: {len(df):,} incidents, {df['cluster_id'].nunique():,} clusters; "
          f"{len(linked):,} linked to {linked['problem_id'].nunique():,} problems; pairwise precision "
          f"{precision:.3f}, recall {recall:.3f}; chance precision {base:.4f}")
    # The log has no titles: clusters are category × subcategory, a coarse signal for a problem.
    # Defensible floor: at least 5x chance (measured: 10x), and a fair share of problem pairs recovered.
    assert precision >= 5 * base
    assert precision >= 0.08 and recall >= 0.2
    # Deterministic: the same input gives the same clusters.
    assert clustering.compute_map(con).equals(clustering.compute_map(con))


def test_statuspage_clusters_against_component_and_normalised_name(con, real_data):
    ingest_file(con, real_data / "github-status-incidents" / "githubstatus_incidents.csv.gz",
                uploaded_by=local_operator("local"))
    df = _assigned(con)
    df["reference"] = df["component"] + "\x1f" + df["title"].map(normalise_title)
    precision, recall = pairwise(df, "reference", "cluster_id")
    print(f"\nStatuspage: {len(df):,} incidents, {df['cluster_id'].nunique():,} clusters, "
          f"{df['reference'].nunique():,} reference groups; pairwise precision {precision:.3f}, "
          f"recall {recall:.3f}")
    # Clusters refine nothing away (same component and same normalised name always cluster:
    # recall 1); fuzzy merging may join near-identical names, which must stay rare.
    assert recall == pytest.approx(1.0)
    assert precision >= 0.9
    strict = _pairs(df.merge(clustering.compute_map(con, threshold=1.0), on=KEYS)["cluster_id_y"])
    assert strict <= _pairs(df["cluster_id"])  # a higher threshold never merges more
