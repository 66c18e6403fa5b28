"""How the command line turns a failure into one line and an exit code, and stops on Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from analytics.store import db
from analytics.store.sharing import StoreBusy

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 1, 2, 75  # 75: EX_TEMPFAIL, "try again later"


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C interrupts the running DuckDB query too (DuckDB keeps SIGINT from Python while a
    query runs, so a long upload used to finish and exit 0); the caller sees KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    interrupted = threading.Event()

    def stop(_signum, _frame):
        interrupted.set()
        db.interrupt_all()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    except Exception as exc:
        # An interrupted query surfaces as InterruptException, or as a RuntimeError from a
        # result fetch: either way it was the Ctrl-C.
        if interrupted.is_set() or isinstance(exc, duckdb.InterruptException):
            raise KeyboardInterrupt from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def describe(exc: BaseException) -> str:
    """One line for the person at the terminal: what failed and, where known, what to do."""
    if isinstance(exc, StoreBusy):
        return str(exc)
    if is_lock_conflict(exc):
        return ("the store is in use by another process that holds it for writing; "
                f"try again when it has finished ({str(exc).splitlines()[0]})")
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a folder, not a file"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(exc, UnicodeError):
        return f"text that cannot be encoded or decoded ({exc.reason if hasattr(exc, 'reason') else exc})"
    if isinstance(exc, ValueError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (f"internal error ({type(exc).__name__}{': ' + first if first else ''}); nothing half-written "
            "was kept. Please report it; HYPERCARE_DEBUG=1 shows the traceback")


def exit_code(exc: BaseException) -> int:
    if is_lock_conflict(exc) or isinstance(exc, StoreBusy):
        return EXIT_BUSY
    if isinstance(exc, (OSError, ValueError, UnicodeError, RecursionError)):
        return EXIT_USAGE
    return EXIT_FAILED
