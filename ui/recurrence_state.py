"""Streamlit edge for the Recurrence page: cached calls into analytics.recurrence.clustering / .patterns.

Same conventions as ui/cache.py: the connection is `_con` (kept out of the cache key) plus
`con_key`; `cache.data_changed()` (st.cache_data.clear) forgets these results too.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from analytics.recurrence import clustering, patterns, rank
from analytics.store.filters import Filters
from ui.store_view import con_key

_CACHE = {"show_spinner": False, "max_entries": 64, "ttl": 3600}
_PATTERN_FUNCTIONS = {
    "pareto": patterns.pareto,
    "weekday_hour": patterns.weekday_hour,
    "repeat_offenders": patterns.repeat_offenders,
    "root_causes": patterns.root_causes,
    "reopen_hotspots": patterns.reopen_hotspots,
}


@st.cache_data(**_CACHE)
def _clusters(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, threshold: float,
              window_days: int) -> pd.DataFrame:
    return clustering.clusters(_con, filters, threshold=threshold, window_days=window_days)


def clusters(con: duckdb.DuckDBPyConnection, filters: Filters, threshold: float,
             window_days: int) -> pd.DataFrame:
    """Cached `analytics.recurrence.clustering.clusters` (every cluster, singletons included)."""
    return _clusters(con, con_key(con), filters, float(threshold), int(window_days))


@st.cache_data(**_CACHE)
def _cluster_tickets(_con: duckdb.DuckDBPyConnection, con_key: int,
                     ticket_ids: tuple[str, ...]) -> pd.DataFrame:
    return clustering.cluster_tickets(_con, list(ticket_ids))


def cluster_tickets(con: duckdb.DuckDBPyConnection, ticket_ids: Any) -> pd.DataFrame:
    """Cached drill-down: the tickets of one cluster."""
    return _cluster_tickets(con, con_key(con), tuple(str(t) for t in ticket_ids))


@st.cache_data(**_CACHE)
def _pattern(_con: duckdb.DuckDBPyConnection, con_key: int, name: str, filters: Filters,
             args: tuple[Any, ...]) -> pd.DataFrame:
    return _PATTERN_FUNCTIONS[name](_con, filters, *args)


def pattern(con: duckdb.DuckDBPyConnection, name: str, filters: Filters, *args: Any) -> pd.DataFrame:
    """Cached `analytics.recurrence.patterns.<name>(con, filters, *args)`."""
    if name not in _PATTERN_FUNCTIONS:
        raise KeyError(name)
    return _pattern(con, con_key(con), name, filters, tuple(args))


def default_threshold(con: duckdb.DuckDBPyConnection) -> float:
    return clustering.default_threshold(con)


def heatmap_timezone(con: duckdb.DuckDBPyConnection) -> str:
    return patterns.heatmap_timezone(con)


def top_first(frame: pd.DataFrame, what: str, key: str) -> pd.DataFrame:
    """The TOP_CLUSTERS rows with the highest impact (frames come sorted so), with a toggle to
    show them all and a caption saying how many are left out."""
    show_all = st.toggle(f"Show all {len(frame):,} {what}", key=key, disabled=len(frame) <= rank.TOP_CLUSTERS)
    shown = frame if show_all else frame.head(rank.TOP_CLUSTERS)
    if len(shown) < len(frame):
        st.caption(f"The {len(shown)} with the highest impact of {len(frame):,}; the CSV holds them all.")
    return shown
