"""The shared filter bar in the sidebar, kept in sync with the URL's query string."""

from __future__ import annotations

import duckdb
import streamlit as st

from analytics.store import filters as flt
from analytics.store.filters import Filters
from ui import cache, pages_folder

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


def current_filters() -> Filters:
    """The filters the sidebar bar set in this run (empty before it has run)."""
    return st.session_state.get(_CURRENT, Filters())


def filter_bar(con: duckdb.DuckDBPyConnection) -> Filters:
    """Draw the shared filter bar in the sidebar; keep it and the URL query string in sync."""
    options = cache.filter_options(con)
    if not st.session_state.get(_URL_READ):
        _load_widgets(Filters.from_query_params(_query_params()), options)
        st.session_state[_URL_READ] = True
    _drop_unknown_values(options)

    with st.sidebar, pages_folder.as_entry_script():
        st.header("Filters")
        # Two single days, not one range: Streamlit's range field does not move to its end day
        # when the "–" is typed, so a typed range silently became a start day (issue #15).
        first, last = cache.date_bounds(con)
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
