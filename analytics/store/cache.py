"""What the metrics keep in memory per store version: the one cache helper of the core.

A value built from a store (the SLA judgements, the KPI facts) is kept per connection under
the store's version (db.store_version, bumped by every committed write) and a key of the
user's (the SLA judgements' base as-of time); a write makes every kept value of that store
stale at once. An in-memory copy of a store (db.copies) never changes: its version is read once.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import duckdb

from analytics.store import db

T = TypeVar("T")
_copy_versions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store copy -> its version


def version_of(con: duckdb.DuckDBPyConnection) -> int:
    """The store's version; for an in-memory copy, the one it was copied at."""
    if con in db.copies:
        found = _copy_versions.get(con)
        if found is None:
            found = _copy_versions[con] = db.store_version(con)
        return found
    return db.store_version(con)


class PerVersion(Generic[T]):
    """Values built from a store, kept for its current version: at most `keep` keys per store,
    the least recently used going first."""

    def __init__(self, keep: int = 1) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # con -> {(version, key): value}

    def get(self, con: duckdb.DuckDBPyConnection, key: Hashable, build: Callable[[Any], T],
            usable: Callable[[Any], bool] | None = None) -> T:
        """The value kept for `key` at the store's current version, else `build(key)`'s (kept).

        `usable(k)`: a kept key that may serve for `key` too; the greatest such serves."""
        version = version_of(con)
        with self._lock:
            kept: OrderedDict = self._kept.setdefault(con, OrderedDict())
            for stale in [k for k in kept if k[0] != version]:
                del kept[stale]
            fits = [k for v, k in kept if k == key or (usable is not None and usable(k))]
            if fits:
                found = max(fits) if usable is not None else key
                kept.move_to_end((version, found))
                return kept[(version, found)]
            value = kept[(version, key)] = build(key)
            while len(kept) > self.keep:
                kept.popitem(last=False)
            return value

    def clear(self) -> None:
        """Forget every kept value (tests; never needed for correctness)."""
        with self._lock:
            self._kept.clear()
