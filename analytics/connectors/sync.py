"""One sync of a live source into a store: pull since the watermark, then upload what was pulled.

The pulled files go through the upload path (analytics.uploads.apply_all) in ONE transaction
together with the new watermark, the last-sync record and a "sync" audit record: a failure
anywhere leaves the store and the watermark as they were, and the next sync starts from there.
A sync that brings nothing new writes no dataset; it only updates the last-sync record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb

from analytics import uploads
from analytics.connectors import config as connector_config
from analytics.connectors import jira, pagerduty, servicenow, statuspage
from analytics.connectors.base import Connector, JsonClient, Progress, Pull, SourceError, Watermark
from analytics.ingest.pipeline import IngestResult
from analytics.ingest.stage import IngestError, stage_file, upload_settings
from analytics.store import audit, auth, db

CONNECTORS: dict[str, Connector] = {
    c.name: c for c in (servicenow.CONNECTOR, jira.CONNECTOR, pagerduty.CONNECTOR, statuspage.CONNECTOR)}
SYNC = audit.SOURCE_SYNC  # the audit action
WATERMARK_KEY = "connector.{name}.watermark"
LAST_SYNC_KEY = "connector.{name}.last_sync"
UPSERT_SQL = ("INSERT INTO settings VALUES ($key, $value) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


@dataclass
class SyncResult:
    """What one sync did (also the last-sync record and the CLI's JSON line)."""

    source: str
    ok: bool
    started_at: str  # ISO, UTC
    started_by: str
    records_read: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    tickets_inserted: int = 0
    tickets_updated: int = 0
    tickets_unchanged: int = 0
    dataset_ids: list[int] = field(default_factory=list)
    # Per file applied: name, profile, dataset_id (None: identical to one stored), its counts.
    files: list[dict[str, Any]] = field(default_factory=list)
    watermark: str | None = None  # the newest updated time seen (ISO), after this sync
    duration_s: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the pull's (connectors.base.Pull.warnings)
    _t0: float = field(default=0.0, repr=False, compare=False)  # perf_counter() at the start

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "_t0"}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def summary(self) -> str:
        if not self.ok:
            return f"{self.source}: failed: {self.error}"
        return (f"{self.source}: {self.records_read:,} records read · {self.rows_loaded:,} rows loaded · "
                f"{self.rows_rejected:,} rejected · {self.tickets_inserted:,} inserted · "
                f"{self.tickets_updated:,} updated · {self.tickets_unchanged:,} unchanged"
                + "".join(f"\n{self.source}: note: {w}" for w in self.warnings))


# The failures a sync reports as its result (ok=False) rather than raising: what a person must read.
FAILURES = (SourceError, IngestError, connector_config.ConfigError)


class _NothingNew(Exception):
    """Rolls back a sync whose files changed no ticket: it must leave no dataset behind."""


def connector(name: str) -> Connector:
    try:
        return CONNECTORS[name]
    except KeyError:
        raise SourceError(f"no source named {name!r} (known: {', '.join(sorted(CONNECTORS))})") from None


def watermark(con: duckdb.DuckDBPyConnection, name: str) -> Watermark:
    return Watermark.from_json(db.get_setting(con, WATERMARK_KEY.format(name=name)))


def last_sync(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any] | None:
    """The stored outcome of the last sync of `name` (SyncResult.to_dict), if any."""
    text = db.get_setting(con, LAST_SYNC_KEY.format(name=name))
    return json.loads(text) if text else None


def configured(*, environ: Mapping[str, str] | None = None, path: str | None = None) -> dict[str, dict[str, str]]:
    """The sources configured here, name -> settings (secrets included: pass them on, never show them)."""
    out = {}
    for name, source in CONNECTORS.items():
        values = connector_config.load(name, path=path, environ=environ)
        if connector_config.configured(source, values):
            out[name] = values
    return out


def check(name: str, *, client: JsonClient | None = None, config: Mapping[str, str] | None = None) -> str:
    """Test the connection of source `name`: one line, or SourceError / ConfigError."""
    source = connector(name)
    values = _settings(source, config)
    return source.check(client or source.make_client(values), values)


def _settings(source: Connector, config: Mapping[str, str] | None) -> Mapping[str, str]:
    values = connector_config.load(source.name) if config is None else config
    if not connector_config.configured(source, values):
        raise SourceError(connector_config.describe(source, values))
    return values


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def begin(name: str, started_by: auth.Identity) -> SyncResult:
    """A sync's result, not yet ok: its start; PermissionDenied unless `started_by` may upload."""
    label = auth.require(started_by, auth.Permission.UPLOAD).label
    connector(name)
    return SyncResult(source=name, ok=False, started_at=_now().isoformat(timespec="seconds"), started_by=label,
                      _t0=time.perf_counter())


def pull(name: str, since: Watermark, *, client: JsonClient | None = None,
         config: Mapping[str, str] | None = None, progress: Progress | None = None) -> Pull:
    """Read source `name` from `since` on (no store involved: nothing to hold while the network is slow)."""
    source = connector(name)
    values = _settings(source, config)
    return source.pull(client or source.make_client(values), values, since, progress)


def sync(con: duckdb.DuckDBPyConnection, name: str, *, started_by: auth.Identity,
         client: JsonClient | None = None, config: Mapping[str, str] | None = None,
         progress: Progress | None = None) -> SyncResult:
    """Sync source `name` into the store `con`; `started_by` (who, or what: a cron job's
    auth.local_operator) is recorded. A failure the user must read (SourceError, IngestError,
    ConfigError) comes back as a result with ok=False, its message also stored as the last sync."""
    result = begin(name, started_by)
    try:
        pulled = pull(name, watermark(con, name), client=client, config=config, progress=progress)
        apply(con, pulled, started_by=started_by, result=result)
    except FAILURES as error:
        fail(con, result, error)
    return result


def apply(con: duckdb.DuckDBPyConnection, pulled: Pull, *, started_by: auth.Identity,
          result: SyncResult) -> SyncResult:
    """Stage and write what `pull` read, with the watermark, the last-sync record and the audit
    record, in one transaction (or, if it changes no ticket, only the last-sync record)."""
    name = result.source
    result.records_read = pulled.records_read
    result.warnings = list(pulled.warnings)
    limit, zone = upload_settings(con)
    with ExitStack() as stack:
        # A person's upload limit guards against a huge file; these files are the API's records.
        # tz UTC: a connector writes a time without an offset only in UTC (the API's own), never
        # in the store's default zone that a person's export is read in.
        staged = [stack.enter_context(stage_file(data=f.data, name=f.name, source=f.profile, tz="UTC",
                                                 default_tz=zone, max_bytes=max(limit, len(f.data))))
                  for f in pulled.files]

        def finish(cur, results: list[IngestResult]) -> None:
            _count(result, results)
            if not any(r.duplicate_of is None and (r.tickets_inserted or r.tickets_updated) for r in results):
                result.dataset_ids = []  # rolled back: they were never written
                for f in result.files:
                    f["dataset_id"] = None
                raise _NothingNew
            # Another sync may have committed meanwhile: the watermark never goes back.
            stored = Watermark.from_json(_setting(cur, WATERMARK_KEY.format(name=name)))
            mark = stored.advance(pulled.watermark.updated_at, pulled.watermark.last_id)
            _done(result, mark)
            cur.execute(UPSERT_SQL, {"key": WATERMARK_KEY.format(name=name), "value": mark.to_json()})
            cur.execute(UPSERT_SQL, {"key": LAST_SYNC_KEY.format(name=name), "value": result.to_json()})
            audit.record(cur, started_by, SYNC, f"source:{name}", {
                k: v for k, v in result.to_dict().items() if k not in ("ok", "error", "started_at", "files")})

        try:
            if staged:
                uploads.apply_all(con, staged, uploaded_by=started_by, also=finish)
                return result
        except _NothingNew:
            pass  # rolled back: nothing it wrote stays
    stored = watermark(con, name)
    mark = stored.advance(pulled.watermark.updated_at, pulled.watermark.last_id)
    _done(result, mark)
    _store_last(con, result, mark if mark != stored else None)
    return result


def fail(con: duckdb.DuckDBPyConnection, result: SyncResult, error: BaseException) -> SyncResult:
    """Record a failed sync as the last sync (the watermark stays where it was)."""
    result.ok, result.error = False, str(error)
    result.duration_s = round(time.perf_counter() - result._t0, 3)
    _store_last(con, result)
    return result


def _done(result: SyncResult, mark: Watermark) -> None:
    result.ok = True
    result.watermark = None if mark.updated_at is None else mark.updated_at.isoformat(timespec="microseconds")
    result.duration_s = round(time.perf_counter() - result._t0, 3)


def _setting(cur, key: str) -> str | None:
    rows = cur.execute("SELECT value FROM settings WHERE key = $key", {"key": key}).fetchall()
    return rows[0][0] if rows else None


def _count(result: SyncResult, results: list[IngestResult]) -> None:
    for r in results:
        result.rows_read += r.rows_read
        result.rows_loaded += r.rows_loaded
        result.rows_rejected += r.rows_rejected
        if r.dataset_id is not None and r.duplicate_of is None:
            result.dataset_ids.append(r.dataset_id)
        result.files.append({"file_name": r.file_name, "profile": r.profile_name,
                             "dataset_id": None if r.duplicate_of is not None else r.dataset_id,
                             "rows_read": r.rows_read, "rows_rejected": r.rows_rejected,
                             "tickets_inserted": r.tickets_inserted, "tickets_updated": r.tickets_updated,
                             "tickets_unchanged": r.tickets_unchanged})
    # Tickets come from the tickets file; a history file's counts are the same tickets again
    # (`files` has them).
    first = results[0]
    result.tickets_inserted, result.tickets_updated, result.tickets_unchanged = (
        first.tickets_inserted, first.tickets_updated, first.tickets_unchanged)


def _store_last(con, result: SyncResult, mark: Watermark | None = None) -> None:
    """The last-sync record (and a watermark that moved with nothing to load), in a small
    transaction of its own that no cache need notice."""
    with db.transaction(con, bump_version=False) as cur:
        cur.execute(UPSERT_SQL, {"key": LAST_SYNC_KEY.format(name=result.source), "value": result.to_json()})
        if mark is not None:
            cur.execute(UPSERT_SQL, {"key": WATERMARK_KEY.format(name=result.source), "value": mark.to_json()})


def reset_watermark(con: duckdb.DuckDBPyConnection, name: str, *, actor: auth.Identity) -> Watermark:
    """Forget where the syncs of source `name` got to, so that the next one reads everything
    again (re-reading is harmless: it counts the stored tickets unchanged). Admins only
    (CHANGE_SETTINGS); one transaction with a SETTING_CHANGE audit record. Returns the watermark
    removed: an empty one, with nothing written, when there was none."""
    who = auth.require(actor, auth.Permission.CHANGE_SETTINGS)
    connector(name)
    key = WATERMARK_KEY.format(name=name)
    with db.transaction(con) as cur:
        before = _setting(cur, key)
        if before is None:
            return Watermark()
        cur.execute("DELETE FROM settings WHERE key = $key", {"key": key})
        audit.record(cur, who, audit.SETTING_CHANGE, f"setting:{key}",
                     {"key": key, "old": before, "new": None, "source": name})
    return Watermark.from_json(before)


__all__ = ["CONNECTORS", "FAILURES", "LAST_SYNC_KEY", "SYNC", "WATERMARK_KEY", "SyncResult", "apply", "begin", "check",
           "configured", "connector", "fail", "last_sync", "pull", "reset_watermark", "sync",
           "watermark"]
