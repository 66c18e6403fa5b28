"""The stores a page reads and writes: the current engagement's, and the installation's (the catalog)."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from ui import engagement_state, store_view


def get_connection() -> duckdb.DuckDBPyConnection:
    """The current engagement's store to read from in this script run: this process's current
    copy of it (ui/store_view)."""
    return store_view.view(engagement_state.current_path()).current()


def installation_connection() -> duckdb.DuckDBPyConnection:
    """The store holding the installation's settings (upload limit, role map): the catalog."""
    return store_view.view(engagement_state.installation_path()).current()


def forget_store() -> None:
    """Drop this process's views of the stores (HYPERCARE_DB changed: tests)."""
    store_view.forget()


def writing() -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A change to the current engagement's store: every change a page makes goes through this."""
    return store_view.writing(engagement_state.current_path())


def writing_installation() -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A change to the installation's settings (upload limit, role map), in the catalog."""
    return store_view.writing(engagement_state.installation_path())


class RowsFromCopy:
    """Rows made on click by `fn(con, *args)` from the page's copy of the store, held weakly.

    Streamlit keeps a deferred download of a closed browser session for good
    (streamlit/streamlit#12506): a page-level lambda would keep the page's globals, and with them
    a whole copy of the store and its caches, alive after every write. Once that copy is gone
    (the store changed and no session shows it any more) the store's current copy is used."""

    def __init__(self, fn: Callable[..., pd.DataFrame], con: duckdb.DuckDBPyConnection, *args: object,
                 path: Path | None = None) -> None:
        self._fn, self._args = fn, args
        self._con = weakref.ref(con)
        self._path = path if path is not None else engagement_state.current_path()

    def __call__(self) -> pd.DataFrame:
        con = self._con()
        if con is None:
            con = store_view.view(self._path).current()
        return self._fn(con, *self._args)
