"""Uploading an export as the app, the CLI and the demo do: ingest, and the recurrence clusters
brought up to date in the upload's own transaction, so its rows and their clusters are one outcome."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from analytics.ingest import pipeline
from analytics.ingest.pipeline import IngestResult
from analytics.ingest.stage import Staged
from analytics.recurrence import clustering
from analytics.store import auth


def _clusters(cur: duckdb.DuckDBPyConnection, result: IngestResult) -> None:
    clustering.update_in(cur, result.dataset_id)


def load(con, path=None, *, uploaded_by: auth.Identity, **options) -> IngestResult:
    """ingest.pipeline.ingest_file with the clusters updated; `options` are ingest_file's (data, name, profile, …)."""
    return pipeline.ingest_file(con, path, uploaded_by=uploaded_by, derive=_clusters, **options)


def apply(con, staged: Staged, *, uploaded_by: auth.Identity, replace_newer: bool = False) -> IngestResult:
    """ingest.pipeline.apply_staged with the clusters updated: the part of an upload to run in the store's write turn."""
    return pipeline.apply_staged(con, staged, uploaded_by=uploaded_by, replace_newer=replace_newer, derive=_clusters)


def apply_all(con, staged: Sequence[Staged], *, uploaded_by: auth.Identity,
              also: pipeline.Also | None = None) -> list[IngestResult]:
    """ingest.pipeline.apply_all with the clusters updated: several files (and `also`) as one outcome."""
    return pipeline.apply_all(con, staged, uploaded_by=uploaded_by, derive=_clusters, also=also)
