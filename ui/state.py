"""Streamlit edge: the current engagement's store, the cached analytics calls, the filter bar.

This and the page-specific ui/*_state.py modules are the only ones with Streamlit caching. Cached functions take the
connection as `_con` (the leading underscore keeps it out of the cache key) plus `con_key`,
a number per copy of a store, so another engagement's store (or a newer copy) never sees old results.
`data_changed()` clears every cached result; call it after anything writes tickets.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import zoneinfo
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import streamlit as st
from streamlit import config as st_config
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analytics import datasets, ingest, overview, profiles
from analytics.auth import Identity
from analytics import filters as flt
from ui import engagement_state, store_view
from analytics.filters import Filters

FILTER_KEYS: dict[str, str] = {field: f"f_{field}" for field in flt.FILTER_COLUMNS}  # -> widget key
FROM_KEY, TO_KEY = "f_from", "f_to"  # the first and last opened day
FILTER_LABELS: dict[str, str] = {
    "severity": "Severity",
    "service": "Service",
    "team": "Team",
    "source": "Source",
    "type": "Ticket type",
    "status": "Status",
}
_URL_READ = "_filters_read_from_url"
_CURRENT = "_filters_current"
# Set by the router (filter_bar) in each script run, read by start_page. Every session's
# script runs on its own thread, so a thread-local is per run.
_run_marks = threading.local()

# --- who is acting ----------------------------------------------------------------------


def actor() -> Identity:
    """Who acts in this session, to pass to every write of the core (which checks the
    permission and records `.label`): the signed-in person in shared mode, else the local
    user (HYPERCARE_OPERATOR, else "local:<login>"); the core refuses a plain name."""
    from ui import auth

    return auth.current_identity()


# --- connection -------------------------------------------------------------------------


def get_connection() -> duckdb.DuckDBPyConnection:
    """The current engagement's store to read from in this script run: this process's current
    copy of it (ui/store_view)."""
    return store_view.view().current()


def installation_connection() -> duckdb.DuckDBPyConnection:
    """The store holding the installation's settings (upload limit, role map): the catalog."""
    return store_view.view(engagement_state.installation_path()).current()


def forget_store() -> None:
    """Drop this process's views of the stores (HYPERCARE_DB changed: tests)."""
    store_view.forget()


writing = store_view.writing  # every change a page makes goes through this (the current engagement's)


def writing_installation() -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A change to the installation's settings (upload limit, role map), in the catalog."""
    return store_view.writing(engagement_state.installation_path())


con_key = store_view.con_key  # the cache-key name of a connection (never reused, unlike id())


@contextlib.contextmanager
def as_entry_script() -> Iterator[None]:
    """Create widgets with the ids a normal run of app.py gives them.

    Because a pages/ folder exists, Streamlit runs the first script run of a server process
    (and every AppTest run) through its legacy multipage wrapper, which gives app.py's widgets
    other ids (and on a page URL runs the page file without app.py). Widget ids that change
    between runs lose the user's last change, so the filter bar always uses the entry
    script's hash. Streamlit offers no public API for this.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        yield
        return
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        yield


def start_page(needs_engagement: bool = True) -> duckdb.DuckDBPyConnection:
    """First call of every page: returns the current engagement's store connection. Without an
    engagement (a new catalog) a page that `needs_engagement` says where to make one and stops.

    When the legacy wrapper ran this page file without app.py, settle the engagement and draw
    the filter bar here and switch the wrapper off for the rest of the process; a real session
    then reruns once through the router (its first run has no clicks to lose), AppTest carries on.
    """
    routed = getattr(_run_marks, "routed", False)
    _run_marks.routed = False
    if not routed:
        from ui import auth

        engagement_state.settle()
        auth.require_signed_in()  # the router's sign-in gate did not run
        engagement_state.open_installation()
    con = get_connection()
    if not routed:
        from streamlit.runtime.pages_manager import PagesManager

        filter_bar(con)
        _run_marks.routed = False
        PagesManager.uses_pages_directory = False
        if not st_config.get_option("global.appTest") and getattr(_run_marks, "page_reruns", 0) < 1:
            _run_marks.page_reruns = 1
            st.rerun()
    _run_marks.page_reruns = 0
    if needs_engagement and engagement_state.current() is None:
        engagement_state.no_engagement_notice()
        st.stop()
    return con


def data_changed() -> None:
    """Forget every cached query result (after an ingest, a delete, a demo load)."""
    st.cache_data.clear()


# --- cached analytics calls -------------------------------------------------------------

BACKLOG_ROWS = 1000  # open tickets listed on the Overview (most severe, oldest first)
_CACHE = {"show_spinner": False, "max_entries": 256, "ttl": 3600}


@st.cache_data(**_CACHE)
def _filter_options(_con: duckdb.DuckDBPyConnection, con_key: int) -> dict[str, list[str]]:
    return flt.filter_options(_con)


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    return _filter_options(con, con_key(con))


@st.cache_data(**_CACHE)
def _date_bounds(_con: duckdb.DuckDBPyConnection, con_key: int) -> tuple[date | None, date | None]:
    return flt.date_bounds(_con)


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
    """Cached `analytics.overview.<name>(con, filters[, as_of])`."""
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
    """Cached `analytics.datasets.<name>(con, *args)`."""
    if name not in _DATASET_FUNCTIONS:
        raise KeyError(name)
    return _dataset_data(con, con_key(con), name, tuple(args))


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def _inspect(_con: duckdb.DuckDBPyConnection, con_key: int, file_id: str, name: str,
             _data: bytes, profile_toml: str | None, tz: str | None,
             max_bytes: int, delimiter: str | None) -> ingest.Inspection:
    profile = profiles.parse_profile(profile_toml, origin="mapping") if profile_toml else None
    return ingest.inspect_file(_con, data=_data, name=name, profile=profile, tz=tz,
                               max_bytes=max_bytes, delimiter=delimiter)


def inspect_upload(con: duckdb.DuckDBPyConnection, file_id: str, name: str, data: bytes,
                   profile: profiles.Profile | None, tz: str | None,
                   max_bytes: int, delimiter: str | None = None) -> ingest.Inspection:
    """Cached `inspect_file` of an uploaded file (keyed by its upload id, not its bytes)."""
    toml = profile.to_toml() if profile is not None else None
    return _inspect(con, con_key(con), file_id, name, data, toml, tz, max_bytes, delimiter)


def as_of_now() -> datetime:
    """Now (naive UTC) to the minute, so cached as-of results live for a minute."""
    return overview.utc_now().replace(second=0, microsecond=0)


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


# --- filter bar -------------------------------------------------------------------------


def current_filters() -> Filters:
    """The filters the sidebar bar set in this run (empty before it has run)."""
    return st.session_state.get(_CURRENT, Filters())


def filter_bar(con: duckdb.DuckDBPyConnection) -> Filters:
    """Draw the shared filter bar in the sidebar; keep it and the URL query string in sync."""
    _run_marks.routed = True
    options = filter_options(con)
    if not st.session_state.get(_URL_READ):
        _load_widgets(Filters.from_query_params(_query_params()), options)
        st.session_state[_URL_READ] = True
    _drop_unknown_values(options)

    with st.sidebar, as_entry_script():
        st.header("Filters")
        # Two single days, not one range: Streamlit's range field does not move to its end day
        # when the "–" is typed, so a typed range silently became a start day (issue #15).
        first, last = _date_bounds(con, con_key(con))
        low, high = flt.picker_bounds(first, last, *(st.session_state.get(k) for k in (FROM_KEY, TO_KEY)))
        span = f" This engagement's tickets were opened {flt.days_text(first, last)}." if first else ""
        typing = (" Type it as YYYY-MM-DD or pick it; a typed day applies when you leave the field "
                  "(Tab, Escape or a click elsewhere).")
        for key, label, what in ((FROM_KEY, "Opened from (UTC day)", "on or after this day"),
                                 (TO_KEY, "Opened until (UTC day)", "on or before this day")):
            st.date_input(label, value=None, min_value=low, max_value=high, key=key, format="YYYY-MM-DD",
                          on_change=_order_dates, help=f"Tickets opened {what}; empty: no limit.{typing}{span}")
        for name, key in FILTER_KEYS.items():
            st.multiselect(
                FILTER_LABELS[name],
                options[name],
                key=key,
                placeholder="All",
                help=f"Only tickets with one of these {FILTER_LABELS[name].lower()} values. "
                "Empty means all."
                + (" Unmapped = no severity could be mapped." if name == "severity" else ""),
            )
        filters = _filters_from_widgets()
        st.button("Clear filters", key="f_clear", on_click=clear_filters,
                  disabled=filters.is_empty)
        st.caption("The page address holds these filters: bookmark or share it to "
                   "reopen this view.")

    st.session_state[_CURRENT] = filters
    _write_query_params(filters)
    return filters


def _query_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params.keys()}


def _load_widgets(filters: Filters, options: dict[str, list[str]]) -> None:
    # Written to the keys: the date widgets are drawn with value=None, so Streamlit does not
    # warn about a value given twice.
    st.session_state[FROM_KEY], st.session_state[TO_KEY] = filters.date_from, filters.date_to
    for name, key in FILTER_KEYS.items():
        st.session_state[key] = [v for v in filters.values(name) if v in options[name]]


def _drop_unknown_values(options: dict[str, list[str]]) -> None:
    """After a delete or re-upload a selected value may no longer exist: unselect it."""
    for name, key in FILTER_KEYS.items():
        selected = st.session_state.get(key)
        if selected:
            kept = [v for v in selected if v in options[name]]
            if kept != list(selected):
                st.session_state[key] = kept


def _order_dates() -> None:
    """Swap a From after the To."""
    low, high = st.session_state.get(FROM_KEY), st.session_state.get(TO_KEY)
    if low and high and low > high:  # as a reversed range in the URL is
        st.session_state[FROM_KEY], st.session_state[TO_KEY] = high, low


def _filters_from_widgets() -> Filters:
    return Filters(
        date_from=st.session_state.get(FROM_KEY),
        date_to=st.session_state.get(TO_KEY),
        **{name: tuple(st.session_state.get(key) or ()) for name, key in FILTER_KEYS.items()},
    )


def clear_filters() -> None:
    st.session_state[FROM_KEY] = st.session_state[TO_KEY] = None
    for key in FILTER_KEYS.values():
        st.session_state[key] = []


def _write_query_params(filters: Filters) -> None:
    """Make the URL's filter keys match `filters`; other query parameters are left alone."""
    wanted = filters.to_query_params()
    for key in flt.QUERY_KEYS:
        if key in wanted:
            if st.query_params.get_all(key) != [wanted[key]]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]

