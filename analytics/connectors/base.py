"""What every connector shares: the watermark, a rendered file, a pull, the error, the protocol.

A connector reads a vendor API and renders the records as the vendor's file export would hold
them (the columns of a built-in profile), so a synced ticket and an uploaded one are the same.
It knows nothing of the store: analytics.connectors.sync stages and applies what it renders.
Each vendor module defines one as `CONNECTOR` (sync.CONNECTORS lists them).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

# Re-read window before the watermark: records stamped a little late (clock skew, slow commits)
# are still seen. Re-reading is harmless: the upload path upserts and counts them unchanged.
OVERLAP = timedelta(minutes=5)

Progress = Callable[[int, int | None], None]  # (records read so far, total if the API says)


class SourceError(Exception):
    """A failure the user must read: names the source, URL path, status and reason, never a credential."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status that refused the request, when one did


@dataclass(frozen=True)
class Watermark:
    """Where the next sync starts: the newest record seen (its updated time, UTC naive, and id)."""

    updated_at: datetime | None = None
    last_id: str | None = None

    def to_json(self) -> str:
        at = None if self.updated_at is None else self.updated_at.isoformat(timespec="microseconds")
        return json.dumps({"updated_at": at, "last_id": self.last_id}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Watermark:
        if not text:
            return cls()
        value = json.loads(text)
        at = value.get("updated_at")
        return cls(None if at is None else utc_naive(at), value.get("last_id"))

    def since(self) -> datetime | None:
        """The earliest updated time the next pull asks for: the watermark less OVERLAP."""
        return None if self.updated_at is None else self.updated_at - OVERLAP

    def advance(self, updated_at: datetime | None, record_id: str | None) -> Watermark:
        """The later of this watermark and (updated_at, record_id), by time then id."""
        if updated_at is None:
            return self
        if self.updated_at is None or (updated_at, record_id or "") > (self.updated_at, self.last_id or ""):
            return Watermark(updated_at, record_id)
        return self


@dataclass(frozen=True)
class RenderedFile:
    """One export-shaped file made from API records."""

    profile: str  # a built-in profile name, e.g. "statuspage-incidents"
    name: str  # the dataset row's file name, e.g. "statuspage-incidents-sync.csv"
    data: bytes  # CSV (UTF-8, header row) in that profile's export shape


@dataclass
class Pull:
    """What one pull read."""

    files: list[RenderedFile]  # the tickets (or event-log) file first, then history files
    records_read: int  # API records read (incidents/issues and history entries)
    watermark: Watermark  # the new watermark (stored only if the sync commits)
    warnings: list[str] = field(default_factory=list)  # what the user should know (e.g. history not readable)


class JsonClient(Protocol):
    """What a connector needs of analytics.connectors.http.HttpClient (a fake in a test will do)."""

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def post_json(self, path: str, body: Any) -> Any: ...


class Connector(Protocol):
    """One vendor: reads its API and renders export-shaped files."""

    # Read-only, so plain class attributes satisfy them (`required = (("base_url",),)`).
    @property
    def name(self) -> str:
        """The source's id (servicenow, jira, pagerduty, statuspage): its config section and settings keys."""
        ...

    @property
    def label(self) -> str:
        """Its name for people: ServiceNow, Jira, PagerDuty, Statuspage."""
        ...

    @property
    def required(self) -> tuple[tuple[str, ...], ...]:
        """The config keys that make it configured: alternatives, any one set complete is enough,
        e.g. (("base_url",), ("api_key", "page_id"))."""
        ...

    def make_client(self, config: Mapping[str, str]) -> JsonClient:
        """An http.HttpClient for this source: its base URL and auth headers from `config`."""
        ...

    def check(self, client: JsonClient, config: Mapping[str, str]) -> str:
        """Test the connection: one line to show, or raise SourceError."""
        ...

    def pull(self, client: JsonClient, config: Mapping[str, str], since: Watermark,
             progress: Progress | None = None) -> Pull: ...


def utc_naive(value: str | datetime) -> datetime:
    """An ISO 8601 time (with offset or Z, or naive meaning UTC) as a naive UTC datetime."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> bytes:
    """A CSV file (UTF-8, header row, \\r\\n as csv writes it) of `rows`; None is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        cells = [row.get(c) for c in columns] if isinstance(row, Mapping) else row
        writer.writerow(["" if v is None else v for v in cells])
    return out.getvalue().encode("utf-8")


def keep_newest(records: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str],
                updated: Callable[[Mapping[str, Any]], datetime | None]) -> list[Mapping[str, Any]]:
    """One record per id: the newest by `updated` (a record changed while being paged is seen
    twice), in first-seen order."""
    kept: dict[str, Mapping[str, Any]] = {}
    for record in records:
        k = key(record)
        old = kept.get(k)
        if old is None or (updated(record) or datetime.min) >= (updated(old) or datetime.min):
            kept[k] = record
    return list(kept.values())


__all__ = ["OVERLAP", "Connector", "JsonClient", "Progress", "Pull", "RenderedFile", "SourceError", "Watermark",
           "csv_bytes", "keep_newest", "utc_naive"]
