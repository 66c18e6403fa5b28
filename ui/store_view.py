"""This dashboard process's views of the store files (the catalog and each engagement's store):
an in-memory copy per file, taken again when the file has changed, and the turn-taking write
that every page's change goes through.

No dashboard process keeps the file open (analytics/store/sharing.py says why), so the CLI, scheduled
jobs and other dashboard processes behind a proxy can read and write the same store. A
process that already holds the file itself (a test, a script that opened it with db.connect)
is read directly instead.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import streamlit as st

from analytics.store import db, sharing

# How many stores' copies this process keeps in memory at most (most recently used first), and
# after how long unused a copy is dropped: each engagement's copy with its caches holds roughly
# its store's size again, and a Portfolio visit or a switch through every engagement must not
# pin them all for the life of the process.
KEEP_COPIES_ENV = "HYPERCARE_STORE_COPIES"
DEFAULT_KEEP_COPIES = 4
IDLE_S = 900.0

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
        self.used = time.monotonic()

    def current(self) -> duckdb.DuckDBPyConnection:
        own = db.connection_for(self.path)
        if own is not None:
            return own
        self.used = time.monotonic()
        con = self.con
        if con is None or sharing.version(self.path) != self.version:
            con = self.refresh(wait=con is None)
        _evict(keep=self)
        return con

    def fresh(self) -> tuple[duckdb.DuckDBPyConnection, tuple[int, ...]] | None:
        """The copy in service and its version if it is of the file as it is now, else None (no
        copy is taken)."""
        con, version = self.con, self.version
        return (con, version) if con is not None and sharing.version(self.path) == version else None

    def drop(self) -> None:
        """Let go of the copy; a page still running on it keeps it until it finishes."""
        with self._lock:
            self.con, self.version = None, None

    def refresh(self, wait: bool = True) -> duckdb.DuckDBPyConnection:
        """Take a new copy if the file changed, and return the copy in service; without `wait`,
        a write under way elsewhere leaves the last copy in service (the next run tries again)."""
        with self._lock:
            if self.con is not None and sharing.version(self.path) == self.version:
                return self.con
            try:
                con, taken = sharing.snapshot(self.path, wait_s=None if wait else 0)
            except sharing.StoreBusy:
                if self.con is None:
                    raise
                return self.con
            self.con, self.version = con, taken
            return con


_views: weakref.WeakValueDictionary[str, StoreView] = weakref.WeakValueDictionary()


def keep_copies() -> int:
    """How many stores' copies this process keeps (HYPERCARE_STORE_COPIES, at least 1)."""
    try:
        return max(1, int(os.environ.get(KEEP_COPIES_ENV, DEFAULT_KEEP_COPIES)))
    except ValueError:
        return DEFAULT_KEEP_COPIES


def _evict(keep: StoreView) -> None:
    """Drop the copies beyond the most recently used keep_copies(), and any unused for IDLE_S."""
    now = time.monotonic()
    held = sorted((v for v in list(_views.values()) if v is not keep and v.con is not None),
                  key=lambda v: v.used, reverse=True)
    for rank, v in enumerate(held, start=2):  # `keep` is the first
        if rank > keep_copies() or now - v.used > IDLE_S:
            v.drop()


def held() -> int:
    """How many stores' copies this process holds now."""
    return sum(v.con is not None for v in list(_views.values()))


@st.cache_resource(show_spinner=False)
def _view(path: str) -> StoreView:
    v = StoreView(Path(path))
    _views[path] = v
    return v


def view(path: str | Path) -> StoreView:
    """The process-wide view of the store file `path`."""
    return _view(str(Path(path).resolve()))


def forget(path: str | Path | None = None) -> None:
    """Drop this process's view of one store file (deleted), or of all (HYPERCARE_DB changed: tests)."""
    if path is None:
        _view.clear()
    else:
        _view.clear(str(Path(path).resolve()))


@contextmanager
def writing(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the store `path` for one change, in its turn; afterwards this
    process's copy is taken again so the change shows at once."""
    current = view(path)
    own = db.connection_for(current.path)
    if own is not None:
        yield own
        return
    with sharing.writing(current.path) as con:
        yield con
    current.refresh()
