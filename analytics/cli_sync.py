"""`python -m analytics sync`: pull the configured live sources into an engagement (cron, systemd timers).

One JSON object per source on stdout (connectors.sync.SyncResult), progress on stderr. Exit 0
when every source synced, 1 when one failed (its JSON says why; the store and its watermark are
as they were), 2 for a usage error or when no source is configured.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from analytics import cli_engagements
from analytics.cli_engagements import waiting
from analytics.connectors import config as connector_config
from analytics.connectors import sync
from analytics.connectors.base import Watermark
from analytics.store import sharing


def _progress(name: str, every: float = 2.0) -> Callable[[int, int | None], None]:
    """Progress on stderr: one line rewritten in place on a terminal, else a line every `every` s."""
    tty = sys.stderr.isatty()
    last = [-every]

    def show(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < every and not (total and done >= total):
            return
        last[0] = now
        share = f" ({100 * done // total} %)" if total else ""
        text = f"{name}: {done:,}{f' of {total:,}' if total else ''} records read{share}"
        print(f"\r{text}" if tty else text, end="" if tty else "\n", file=sys.stderr, flush=True)
    return show


def _sources(wanted: str | None) -> dict[str, dict[str, str]] | str:
    """The sources to sync with their settings, or the reason there are none (a usage error)."""
    try:
        found = sync.configured()
    except connector_config.ConfigError as exc:
        return str(exc)
    if wanted:
        if wanted not in found:
            return connector_config.describe(sync.connector(wanted), connector_config.load(wanted))
        return {wanted: found[wanted]}
    if not found:
        names = ", ".join(sorted(sync.CONNECTORS))
        return (f"no live source is configured ({names}): set [connectors.<name>] in .streamlit/secrets.toml "
                "or HYPERCARE_<NAME>_<KEY> environment variables (docs/connectors.md)")
    return found


def cmd_sync(args) -> int:
    sources = _sources(args.source)
    if isinstance(sources, str):
        print(f"error: {sources}", file=sys.stderr)
        return 2
    who = cli_engagements.operator()
    failed = 0
    for name, values in sources.items():
        result = sync.begin(name, who)
        # The network is read without the store's turn; only the write takes it.
        with sharing.reading(args.db, on_wait=waiting) as con:
            since = Watermark(None, None) if args.full else sync.watermark(con, name)
        try:
            pulled = sync.pull(name, since, config=values, progress=_progress(name))
            with sharing.writing(args.db, on_wait=waiting) as con:
                sync.apply(con, pulled, started_by=who, result=result)
        except sync.FAILURES as exc:
            with sharing.writing(args.db, on_wait=waiting) as con:
                sync.fail(con, result, exc)
        print(("\n" if sys.stderr.isatty() else "") + result.summary(), file=sys.stderr)
        print(result.to_json(), flush=True)
        failed += not result.ok
    return 1 if failed else 0


__all__ = ["cmd_sync"]
