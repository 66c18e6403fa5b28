"""The opening of every page (its store, sign-in, filter bar and caption), and the captions and
downloads that need the session's engagement and store."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd
import streamlit as st

from analytics.store.filters import Filters
from ui import auth, cache, connection, engagement_state, filter_bar, pages_folder, widgets


def start_page(needs_engagement: bool = True) -> duckdb.DuckDBPyConnection:
    """First call of every page: returns the current engagement's store connection. Without an
    engagement (a new catalog) a page that `needs_engagement` says where to make one and stops.

    When Streamlit's legacy wrapper ran this page file without app.py (ui/pages_folder.py), this
    does what the router would have: settles the engagement, gates sign-in, draws the filter bar.
    """
    routed = pages_folder.take_routed()
    if not routed:
        engagement_state.settle()
        auth.require_signed_in()  # the router's sign-in gate did not run
        engagement_state.open_installation()
    con = connection.get_connection()
    if not routed:
        filter_bar.filter_bar(con)
        pages_folder.leave_wrapper()
    pages_folder.page_opened()
    if needs_engagement and engagement_state.current() is None:
        engagement_state.no_engagement_notice()
        st.stop()
    return con


def filtered_page(title: str) -> tuple[duckdb.DuckDBPyConnection, Filters, int]:
    """The opening of every page that reads the filter bar: (connection, filters, n tickets).

    Draws the title and the filter caption; stops the page with a pointer to Upload & data when
    the store is empty, or with a hint when the filters match nothing.
    """
    con = start_page()
    filters = filter_bar.current_filters()
    st.title(title)
    n = filter_caption(con, filters)
    if store_is_empty(con):
        empty_store_notice()
        st.stop()
    if n == 0:
        no_match_notice()
        st.stop()
    return con, filters, n


def engagement_prefix() -> str:
    """"Engagement: <name> · ", so that a page (and a screenshot of it) says whose data it shows."""
    e = engagement_state.current()
    return f"Engagement: {e.name} · " if e is not None else ""


def engagement_caption(text: str) -> None:
    st.caption(widgets.escape_markdown(engagement_prefix() + text))


def filter_caption(con: duckdb.DuckDBPyConnection, filters: Filters) -> int:
    """Show "Engagement: … · Filters: … · n tickets" under the page title; returns n."""
    n = cache.ticket_count(con, filters)
    engagement_caption(filters.caption(n))
    return n


def store_is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return cache.ticket_count(con, Filters()) == 0


def empty_store_notice() -> None:
    st.info("No tickets loaded yet. Upload a ticket export (or load the demo data) first.",
            icon=":material/info:")
    st.page_link(widgets.UPLOAD_PAGE, label="Go to Upload & data", icon=":material/upload:")


def no_match_notice() -> None:
    st.info("No tickets match the current filters. Change or clear them in the sidebar.",
            icon=":material/filter_alt_off:")


def download_rows(fn: Callable[..., pd.DataFrame], con: duckdb.DuckDBPyConnection, *args: object,
                  file_name: str, key: str, label: str = "Download CSV") -> None:
    """`download_csv` of `fn(con, *args)`, made on click without keeping `con` alive."""
    widgets.download_csv(connection.RowsFromCopy(fn, con, *args), file_name, key=key, label=label)
