"""The Streamlit caches of the shared analytics calls, their invalidation, and the forms' fixed lists.

This and the page-specific ui/*_state.py modules are the only ones with Streamlit caching. Cached
functions take the connection as `_con` (the leading underscore keeps it out of the cache key) plus
`con_key`, a number per copy of a store, so another engagement's store (or a newer copy) never sees
old results. `data_changed()` clears every cached result; call it after anything writes tickets.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from analytics.ingest import datasets, profiles, stage
from analytics.kpi import overview
from analytics.store import filters as flt
from analytics.store.filters import Filters
from analytics.store.periods import utc_now
from ui.store_view import con_key

BACKLOG_ROWS = 1000  # open tickets listed on the Overview (most severe, oldest first)
_CACHE = {"show_spinner": False, "max_entries": 256, "ttl": 3600}


def data_changed() -> None:
    """Forget every cached query result (after an ingest, a delete, a demo load)."""
    st.cache_data.clear()


@st.cache_data(**_CACHE)
def _filter_options(_con: duckdb.DuckDBPyConnection, con_key: int) -> dict[str, list[str]]:
    return flt.filter_options(_con)


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    return _filter_options(con, con_key(con))


@st.cache_data(**_CACHE)
def _date_bounds(_con: duckdb.DuckDBPyConnection, con_key: int) -> tuple[date | None, date | None]:
    return flt.date_bounds(_con)


def date_bounds(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """Cached `analytics.store.filters.date_bounds(con)`: the first and last opened day."""
    return _date_bounds(con, con_key(con))


@st.cache_data(**_CACHE)
def _ticket_count(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters) -> int:
    return flt.count_tickets(_con, filters)


def ticket_count(con: duckdb.DuckDBPyConnection, filters: Filters) -> int:
    return _ticket_count(con, con_key(con), filters)


@st.cache_data(**_CACHE)
def _overview(_con: duckdb.DuckDBPyConnection, con_key: int, name: str, filters: Filters,
              as_of: datetime | None) -> Any:
    fn = _OVERVIEW_FUNCTIONS[name]
    return fn(_con, filters, as_of) if as_of is not None else fn(_con, filters)


_OVERVIEW_FUNCTIONS = {
    "cube": overview.cube,  # the Overview's summary, volume, ageing and mix from one scan
    "backlog": overview.backlog,
    # The first rows only: what the Overview shows; its CSV fetches the whole backlog on click.
    "backlog_first": lambda con, filters, as_of: overview.backlog(con, filters, as_of, limit=BACKLOG_ROWS),
    "weekly_volume_by_severity": overview.weekly_volume_by_severity,
    "top_titles": overview.top_titles,
    "open_major_tickets": overview.open_major_tickets,
}


def overview_data(con: duckdb.DuckDBPyConnection, name: str, filters: Filters,
                  as_of: datetime | None = None) -> Any:
    """Cached `analytics.kpi.overview.<name>(con, filters[, as_of])`."""
    if name not in _OVERVIEW_FUNCTIONS:
        raise KeyError(name)
    return _overview(con, con_key(con), name, filters, as_of)


_DATASET_FUNCTIONS = {
    "list_datasets": datasets.list_datasets,
    "rejects": datasets.rejects,
    "data_quality": datasets.data_quality,
    "data_quality_rows": datasets.data_quality_rows,
}


@st.cache_data(**_CACHE)
def _dataset_data(_con: duckdb.DuckDBPyConnection, con_key: int, name: str,
                  args: tuple[Any, ...]) -> pd.DataFrame:
    return _DATASET_FUNCTIONS[name](_con, *args)


def dataset_data(con: duckdb.DuckDBPyConnection, name: str, *args: Any) -> pd.DataFrame:
    """Cached `analytics.ingest.datasets.<name>(con, *args)`."""
    if name not in _DATASET_FUNCTIONS:
        raise KeyError(name)
    return _dataset_data(con, con_key(con), name, tuple(args))


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def _inspect(_con: duckdb.DuckDBPyConnection, con_key: int, file_id: str, name: str,
             _data: bytes, profile_toml: str | None, tz: str | None,
             max_bytes: int, delimiter: str | None) -> stage.Inspection:
    profile = profiles.parse_profile(profile_toml, origin="mapping") if profile_toml else None
    return stage.inspect_file(_con, data=_data, name=name, profile=profile, tz=tz,
                               max_bytes=max_bytes, delimiter=delimiter)


def inspect_upload(con: duckdb.DuckDBPyConnection, file_id: str, name: str, data: bytes,
                   profile: profiles.Profile | None, tz: str | None,
                   max_bytes: int, delimiter: str | None = None) -> stage.Inspection:
    """Cached `inspect_file` of an uploaded file (keyed by its upload id, not its bytes)."""
    toml = profile.to_toml() if profile is not None else None
    return _inspect(con, con_key(con), file_id, name, data, toml, tz, max_bytes, delimiter)


def as_of_now() -> datetime:
    """Now (naive UTC) to the minute, so cached as-of results live for a minute."""
    return utc_now().replace(second=0, microsecond=0)


# --- the forms' lists ---------------------------------------------------------------------


@functools.cache
def time_zones() -> list[str]:
    """Every IANA time zone name, sorted, UTC first."""
    return ["UTC", *sorted(z for z in zoneinfo.available_timezones() if z != "UTC")]


def profile_catalogue() -> tuple[pd.DataFrame, dict[str, str]]:
    """Saved and built-in mapping profiles: a table to show, and {choice label: TOML}.

    Read from disk on every call (a profile saved a moment ago must show). Raises
    ProfileError when a saved profile file is broken.
    """
    rows, tomls = [], {}
    for origin, found in (("saved", profiles.user_profiles()), ("built-in", profiles.builtin_profiles())):
        for p in found:
            rows.append({"name": p.source.name, "origin": origin, "layout": p.source.layout,
                         "source label": p.source.source_label, "description": p.source.description})
            tomls[f"{p.source.name} ({origin})"] = p.to_toml()
    return pd.DataFrame(rows, columns=["name", "origin", "layout", "source label", "description"]), tomls
