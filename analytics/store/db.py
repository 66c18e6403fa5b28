"""Opening the DuckDB file and serialising writes.

One connection per process: DuckDB allows a single read-write handle to a file, and a
connection is not safe across threads, so callers take `con.cursor()` per query and wrap
every write in `write_lock` (Streamlit runs each browser session on its own thread).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import overload

import duckdb

from analytics.store import row_hash
from analytics.store.schema import DDL, UPGRADE_COLUMNS, VERSION_BACKFILL, VERSION_FIELD

DEFAULT_DB = Path(__file__).resolve().parents[2] / "data" / "hypercare.duckdb"

write_lock = threading.RLock()
# Every connection this process opened, so a Ctrl-C can interrupt the query that is running.
open_connections: weakref.WeakSet = weakref.WeakSet()
# In-memory copies of a store (analytics.store.sharing.snapshot): nothing writes to them, so what is
# derived from one holds for its life.
copies: weakref.WeakSet = weakref.WeakSet()
# Connections opened with connect() and kept by their owner (tests, scripts) -> resolved path;
# analytics.store.sharing's short-lived ones are not listed.
_held: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def default_db_path() -> Path:
    """The database file: HYPERCARE_DB if set, else data/hypercare.duckdb."""
    return Path(os.environ.get("HYPERCARE_DB") or DEFAULT_DB)


def connect(path: str | os.PathLike | None = None, *, held: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at `path` and make sure the schema exists.

    `held`: the caller keeps it open for a while (a test, a script): `connection_for` finds it."""
    target = str(path) if path is not None else str(default_db_path())
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(target)
    open_connections.add(con)
    if held and target != ":memory:":
        _held[con] = str(Path(target).resolve())
    # Stored timestamps mean UTC; make every TIMESTAMPTZ conversion agree with that.
    con.execute("SET TimeZone = 'UTC'")
    init_schema(con)
    return con


def connection_for(path: str | os.PathLike) -> duckdb.DuckDBPyConnection | None:
    """An open read-write connection of this process to `path` from connect(), if any: while
    one exists, DuckDB refuses every other way of opening that file in this process."""
    wanted = str(Path(path).resolve())
    for con, where in list(_held.items()):
        if where == wanted:
            try:
                con.execute("SELECT 1")
                return con
            except duckdb.Error:  # closed
                _held.pop(con, None)
    return None


def interrupt_all() -> None:
    """Interrupt whatever query runs on any connection of this process (it raises, and its
    transaction rolls back)."""
    for con in list(open_connections):
        try:
            con.interrupt()
        except duckdb.Error:  # closed meanwhile
            pass


# settings key: the store format's version. Stores made before engagements (issue #13) have none:
# they are upgraded into an installation (analytics/upgrade.py), never served as is.
SCHEMA_VERSION_SETTING = "schema_version"
SCHEMA_VERSION = "2"


BUMP_VERSION_SQL = "UPDATE store_version SET version = version + 1"
# id() of the cursors in an open transaction(): touched only under write_lock, by the thread holding it.
_open: set[int] = set()


def store_version(con: duckdb.DuckDBPyConnection) -> int:
    """How many writes have committed to this store (0 for a new one): changes with every write."""
    return con.cursor().execute("SELECT version FROM store_version").fetchall()[0][0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, new_cursor: bool = True,
                bump_version: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor in one transaction under `write_lock`: committed on success, else rolled back.

    The code's one BEGIN / COMMIT / ROLLBACK (tests/test_architecture.py); writers use it as
    `audit.transaction` and write their audit record on its cursor (`audit.record`), so a write
    that rolls back leaves no record. `new_cursor=False` runs it on `con` itself: a cursor the
    caller set up (its temp and registered tables) and keeps, or the connection during
    init_schema. A cursor opened here is closed after.

    With `new_cursor=False` on a cursor already in one of these transactions it joins that one
    (several uploads as one outcome, pipeline.apply_all): no BEGIN or COMMIT of its own, and the
    outer transaction commits, bumps the version once, or rolls back all of it.
    `bump_version=False`: bookkeeping nothing derived reads (a sync's last outcome), which need
    not make every cache of the store stale."""
    with write_lock:
        if not new_cursor and id(con) in _open:
            yield con
            return
        cur = con.cursor() if new_cursor else con
        try:
            cur.execute("BEGIN TRANSACTION")
            _open.add(id(cur))
            try:
                yield cur
                if bump_version:
                    cur.execute(BUMP_VERSION_SQL)  # in the write's own transaction: both or neither
                cur.execute("COMMIT")
            except BaseException:  # Ctrl-C included: the store stays as it was
                cur.execute("ROLLBACK")
                raise
            finally:
                _open.discard(id(cur))
        finally:
            if new_cursor:
                cur.close()


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    with write_lock:
        # Every column the store had before the DDL, read once (one catalog query instead of one
        # per table: opening a store is on every CLI command's and test's path). A table the DDL
        # creates has every column already.
        before: dict[str, dict[str, str]] = {}
        for table, column, data_type in con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main'").fetchall():
            before.setdefault(table, {})[column] = data_type
        new = "settings" not in before
        for statement in DDL:
            con.execute(statement)
        con.execute("INSERT INTO store_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM store_version)")
        # Stores made before row_hash became a number: the old text hashes are dropped, and
        # recomputed below with the rest.
        kind = before.get("tickets", {"row_hash": "UBIGINT"}).get("row_hash")
        if kind and kind != "UBIGINT":
            con.execute("ALTER TABLE tickets ALTER row_hash SET DATA TYPE UBIGINT USING NULL")
        # Stores made before a column existed get it as an empty column.
        for table, fields in UPGRADE_COLUMNS.items():
            if table not in before:
                continue
            have = set(before[table])
            for name, typ in fields:
                if name not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {typ}")
                    if (table, name) == ("tickets", VERSION_FIELD[0]):
                        # Without it the first older upload after the upgrade would revert tickets.
                        # (The lifecycle columns came earlier in this loop; a store too old to
                        # know its tickets' uploads gets those alone.)
                        for statement in VERSION_BACKFILL[:None if "dataset_id" in have else 1]:
                            con.execute(statement)
        if kind and not row_hash.is_current(con):  # (a hand-made store may lack the column)
            _rehash(con)
        if new:
            con.execute("INSERT INTO settings VALUES ($key, $value)",
                        {"key": SCHEMA_VERSION_SETTING, "value": SCHEMA_VERSION})


def _rehash(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the stored tickets' row_hash in the stable format (analytics/store/row_hash.py)."""
    # Stores made before it hold DuckDB's hash(), which a DuckDB upgrade may change: compared
    # with an upload's hashes, every re-uploaded ticket would look updated. Recomputed from the
    # stored tickets and histories as their uploads compute them, all or nothing (an empty or
    # new store only gets the mark). On `con` itself, as the rest of init_schema. Ctrl-C rolls
    # back too: the store keeps its old hashes and is rehashed next time.
    with transaction(con, new_cursor=False) as cur:
        row_hash.rehash(cur)


@overload
def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: str) -> str: ...
@overload
def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: None = None) -> str | None: ...


def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    """The stored value of `key` (settings.value is NOT NULL), else `default`."""
    row = con.cursor().execute("SELECT value FROM settings WHERE key = $key", {"key": key}).fetchall()
    return row[0][0] if row else default


def get_settings(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, str]:
    """The stored values of those of `keys` that are set, in one query."""
    rows = con.cursor().execute("SELECT key, value FROM settings WHERE list_contains($keys, key)",
                                {"keys": list(keys)}).fetchall()
    return dict(rows)


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """A setting the code keeps for itself (a marker, the demo's dates), unaudited; a person's
    change goes through audit.set_setting."""
    with transaction(con) as cur:
        cur.execute("INSERT INTO settings VALUES ($key, $value) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", {"key": key, "value": value})


def delete_setting(con: duckdb.DuckDBPyConnection, key: str) -> None:
    with transaction(con) as cur:
        cur.execute("DELETE FROM settings WHERE key = $key", {"key": key})


def ticket_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.cursor().execute("SELECT count(*) FROM tickets").fetchall()[0][0]
