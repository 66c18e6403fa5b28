"""This dashboard process's views of the store files (the catalog and each engagement's store):
an in-memory copy per file, taken again when the file has changed, and the turn-taking write
that every page's change goes through.

No dashboard process keeps the file open (analytics/store.py says why), so the CLI, scheduled
jobs and other dashboard processes behind a proxy can read and write the same store. A
process that already holds the file itself (a test, a script that opened it with db.connect)
is read directly instead.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import streamlit as st

from analytics import db, store


_serials: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_next_serial = itertools.count(1)
_serial_lock = threading.Lock()


def con_key(con: duckdb.DuckDBPyConnection) -> int:
    """A number that names `con` for cache keys and is never reused (an id() is, once the
    object is gone, and each new copy of the store is a new connection)."""
    with _serial_lock:
        if con not in _serials:
            _serials[con] = next(_next_serial)
        return _serials[con]


class StoreView:
    """The latest in-memory snapshot of one store file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.version: tuple[int, ...] | None = None

    def current(self) -> duckdb.DuckDBPyConnection:
        own = db.connection_for(self.path)
        if own is not None:
            return own
        if self.con is None or store.version(self.path) != self.version:
            self.refresh(wait=self.con is None)
        assert self.con is not None
        return self.con

    def refresh(self, wait: bool = True) -> None:
        """Take a new copy if the file changed; without `wait`, a write under way elsewhere
        leaves the last copy in service (the next script run tries again)."""
        with self._lock:
            if self.con is not None and store.version(self.path) == self.version:
                return
            try:
                con, taken = store.snapshot(self.path, wait_s=None if wait else 0)
            except store.StoreBusy:
                if self.con is None:
                    raise
                return
            self.con, self.version = con, taken


@st.cache_resource(show_spinner=False)
def _view(path: str) -> StoreView:
    return StoreView(Path(path))


def view(path: str | Path | None = None) -> StoreView:
    """The process-wide view of the store file `path` (default: the current engagement's)."""
    if path is None:
        from ui import engagement_state  # late: it asks this module for the stores' copies

        path = engagement_state.current_path()
    return _view(str(Path(path).resolve()))


def forget(path: str | Path | None = None) -> None:
    """Drop this process's view of one store file (deleted), or of all (HYPERCARE_DB changed: tests)."""
    if path is None:
        _view.clear()
    else:
        _view.clear(str(Path(path).resolve()))


@contextmanager
def writing(path: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a store (default: the current engagement's) for one change, in
    its turn; afterwards this process's copy is taken again so the change shows at once."""
    current = view(path)
    own = db.connection_for(current.path)
    if own is not None:
        yield own
        return
    with store.writing(current.path) as con:
        yield con
    current.refresh()
