"""Sharing one store file between processes: the dashboard(s), the CLI, scheduled jobs.

DuckDB lets one process hold a file read-write, or several hold it read-only, never both; a
second opener gets an IOException. So no process keeps the file open: a write opens it
read-write for the length of its transaction, a read opens it read-only for the length of its
command, and a dashboard process reads from its own in-memory copy (`snapshot`), taken again
when the file has changed. Turns are kept with the operating system's file locks (flock) on
`<store>.lock`: writers take it exclusively, readers shared, and a writer that waits makes new
readers wait behind it (`<store>.lock-queue`), so a stream of readers cannot starve a write.
A lock dies with its process, so a killed command never leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from analytics.store import db, schema

DEFAULT_WAIT_S = 600.0  # a command waits at most this long for its turn (a long upload elsewhere)
WAIT_ENV = "HYPERCARE_STORE_WAIT_S"  # overrides DEFAULT_WAIT_S
_POLL_S = 0.05


class StoreBusy(TimeoutError):
    """The store stayed in use by another process for longer than the wait allowed."""


def _lock_path(store: Path, suffix: str) -> Path:
    return store.with_name(store.name + suffix)


@contextmanager
def _flock(path: Path, mode: int, wait_s: float, on_wait: Callable[[], None] | None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"the store {path.name.rsplit('.lock', 1)[0]} stayed in use by another "
                                    f"process for {wait_s:.0f} s; try again later") from None
                if on_wait is not None and not told:
                    on_wait()
                    told = True
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def default_wait_s() -> float:
    return float(os.environ.get(WAIT_ENV) or DEFAULT_WAIT_S)


@contextmanager
def turn(store: str | os.PathLike, *, write: bool, wait_s: float | None = None,
         on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the store for reading (shared) or writing (exclusive) while the block runs."""
    store = Path(store)
    wait_s = default_wait_s() if wait_s is None else wait_s
    queue, data = _lock_path(store, ".lock-queue"), _lock_path(store, ".lock")
    with ExitStack() as stack:
        if write:
            # Queue first: readers arriving from now on wait behind this write.
            stack.enter_context(_flock(queue, fcntl.LOCK_EX, wait_s, on_wait))
            stack.enter_context(_flock(data, fcntl.LOCK_EX, wait_s, on_wait))
        else:
            with _flock(queue, fcntl.LOCK_SH, wait_s, on_wait):
                stack.enter_context(_flock(data, fcntl.LOCK_SH, wait_s, on_wait))
        yield


def version(store: str | os.PathLike) -> tuple[int, int, int, int]:
    """Changes whenever a write has been committed and the store closed (file and WAL stats)."""
    out: list[int] = []
    for p in (Path(store), Path(str(store) + ".wal")):
        try:
            st = p.stat()
            out += [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)  # type: ignore[return-value]


def outdated(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the store lacks a table or column this version needs (a read-write open
    upgrades it: db.init_schema)."""
    have: dict[str, dict[str, str]] = {}
    for table, column, kind in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall():
        have.setdefault(table, {})[column] = kind
    needed = {_table_name(d) for d in schema.DDL if _table_name(d)}
    if not needed <= set(have):
        return True
    if have["tickets"].get("row_hash") != "UBIGINT":
        return True
    return any(name not in have[table] for table, fields in schema.UPGRADE_COLUMNS.items()
               for name, _ in fields)


def schema_outdated(path: str | os.PathLike, wait_s: float | None = None) -> bool:
    """`outdated` for the store file at `path`, read-only (waiting for its turn as `turn`)."""
    with turn(path, write=False, wait_s=wait_s):
        con = duckdb.connect(str(path), read_only=True)
        try:
            return outdated(con)
        finally:
            con.close()


def _table_name(statement: str) -> str | None:
    words = statement.split()
    if words[:5] == ["CREATE", "TABLE", "IF", "NOT", "EXISTS"]:
        return words[5].split("(")[0]
    return None


def _ensure(store: Path, wait_s: float | None, on_wait) -> None:
    """Create the store (with its schema) when it does not exist yet, or upgrade its schema."""
    with turn(store, write=True, wait_s=wait_s, on_wait=on_wait):
        db.connect(store, held=False).close()


@contextmanager
def writing(store: str | os.PathLike | None = None, *, wait_s: float | None = None,
            on_wait: Callable[[], None] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection for one write (or a few), waiting for the store's turn; closed
    (and so checkpointed and released) when the block ends."""
    path = Path(store) if store is not None else db.default_db_path()
    own = db.connection_for(path)
    if own is not None:  # this process holds the file already (a test, a script): use it
        yield own
        return
    with turn(path, write=True, wait_s=wait_s, on_wait=on_wait):
        con = db.connect(path, held=False)
        try:
            yield con
        finally:
            con.close()


@contextmanager
def reading(store: str | os.PathLike | None = None, *, wait_s: float | None = None,
            on_wait: Callable[[], None] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for one command, waiting while a write is under way; a missing
    or older store is created or upgraded first (a short write)."""
    path = Path(store) if store is not None else db.default_db_path()
    own = db.connection_for(path)
    if own is not None:  # this process holds the file already (a test, a script): use it
        yield own
        return
    if not path.exists():
        _ensure(path, wait_s, on_wait)
    with ExitStack() as stack:
        stack.enter_context(turn(path, write=False, wait_s=wait_s, on_wait=on_wait))
        con = _read_only(path)
        if outdated(con):
            con.close()
            stack.close()
            _ensure(path, wait_s, on_wait)
            stack.enter_context(turn(path, write=False, wait_s=wait_s, on_wait=on_wait))
            con = _read_only(path)
        stack.callback(con.close)
        yield con


def _read_only(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=True)
    db.open_connections.add(con)
    con.execute("SET TimeZone = 'UTC'")
    return con


def snapshot(store: str | os.PathLike | None = None, *, wait_s: float | None = None
             ) -> tuple[duckdb.DuckDBPyConnection, tuple[int, int, int, int]]:
    """An in-memory copy of the whole store and the version it was taken at; `wait_s` bounds
    every wait for a turn (0: StoreBusy at once while another process writes)."""
    path = Path(store) if store is not None else db.default_db_path()
    if not path.exists() or schema_outdated(path, wait_s):
        _ensure(path, wait_s, None)
    mem = duckdb.connect(":memory:")
    mem.execute("SET TimeZone = 'UTC'")
    with turn(path, write=False, wait_s=wait_s):
        taken = version(path)
        # ATTACH takes no bound parameter for its path; a quoted literal, quotes doubled.
        mem.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS store_file (READ_ONLY)")
        try:
            mem.execute("COPY FROM DATABASE store_file TO memory")
        finally:
            mem.execute("DETACH store_file")
    db.copies.add(mem)
    return mem, taken
