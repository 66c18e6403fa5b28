"""PagerDuty (REST API v2): incidents and their log entries, rendered as the built-in profiles
pagerduty-incidents (the incidents CSV export's columns) and pagerduty-log-entries read them.

`GET /incidents?since=&until=` selects incidents by their created time, so one acknowledged or
resolved later would never be listed again. Changes show in the account-wide log instead:
`GET /log_entries?since=&until=` lists every action on any incident by its own time.

- First pull (no watermark): every incident (`/incidents?date_range=all`, oldest first), then
  the log entries from the earliest created time to now (`is_overview=true`: trigger,
  acknowledge, resolve and the like, without the notifications).
- Later pulls: every log entry since the watermark less OVERLAP (any type: a reassignment or a
  note changes an incident too), each with its incident embedded (`include[]=incidents`); for
  an incident created before that window, its own overview log (`/incidents/{id}/log_entries`),
  because an uploaded history replaces a ticket's whole stored history. No documented log entry
  type records an edit of the title or the priority (urgency and field changes have theirs), and
  `/incidents` cannot select by update time: such an edit shows at the incident's next logged
  action, or after a watermark reset.
- The history file holds the status changes with PagerDuty's status words (triggered,
  acknowledged, resolved) beside the entry type.
- `/log_entries` serves at most 10,000 records per query (offset + limit): a window holding more
  (`total=true` says so on its first page) is cut into shorter windows.
- 960 requests a minute per key: one every `min_interval` seconds (config, default 60/960).
Config `[connectors.pagerduty]`: api_key; optional api_url, service_ids and team_ids (commas).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from analytics.connectors.base import (
    JsonClient,
    Progress,
    Pull,
    RenderedFile,
    SourceError,
    Watermark,
    csv_bytes,
    keep_newest,
    utc_naive,
)
from analytics.connectors.http import HttpClient

API_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
LIMIT = 100  # the largest page PagerDuty serves
MAX_RECORDS = 10_000  # offset + limit beyond this: HTTP 400 on /log_entries
MAX_PAGES = 10_000  # a list that never ends is a broken server
MAX_PASSES = 3
MIN_INTERVAL = 60 / 960
# The log entry types that change an incident's status (the history file holds these), and the
# incident status each leaves (PagerDuty's own words: an unacknowledged incident is triggered again).
STATUS_OF = {"trigger_log_entry": "triggered", "acknowledge_log_entry": "acknowledged",
             "unacknowledge_log_entry": "triggered", "resolve_log_entry": "resolved"}
STATUS_TYPES = tuple(STATUS_OF)
INCIDENT_COLUMNS = ("id", "incident_number", "title", "description", "status", "urgency", "priority",
                    "service_name", "escalation_policy", "team_names", "assigned_to", "created_on",
                    "acknowledged_on", "resolved_on", "seconds_to_first_ack", "seconds_to_resolve")
ENTRY_COLUMNS = ("id", "type", "status", "created_at", "incident_id", "incident_number", "agent", "summary")

Record = Mapping[str, Any]


def _ids(config: Mapping[str, str], key: str) -> list[str]:
    return [v.strip() for v in (config.get(key) or "").split(",") if v.strip()]


def _at(record: Record, key: str = "created_at") -> datetime:
    return utc_naive(record[key])


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(ref: Any) -> str | None:
    return ref.get("summary") or ref.get("name") if isinstance(ref, Mapping) else None


def _seconds(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return round((utc_naive(end) - utc_naive(start)).total_seconds())


def incident_row(incident: Record, entries: list[Record]) -> dict[str, Any]:
    """One incidents-file row; the first acknowledgement comes from the incident's log entries
    (a resolved incident lists no acknowledgements, nor assignments)."""
    acks = sorted((e["created_at"] for e in entries if e.get("type") == "acknowledge_log_entry"), key=utc_naive)
    acks = acks or sorted((a["at"] for a in incident.get("acknowledgements") or [] if a.get("at")), key=utc_naive)
    assignees = [_name(a.get("assignee")) for a in incident.get("assignments") or []]
    changer = incident.get("last_status_change_by") or {}
    # Once resolved, PagerDuty clears the assignments: whoever resolved it is who had it.
    if not any(assignees) and incident.get("status") == "resolved" and changer.get("type") == "user_reference":
        assignees = [_name(changer)]
    title = incident.get("title") or incident.get("summary")
    ack = acks[0] if acks else None
    return {
        "id": incident["id"], "incident_number": incident["incident_number"], "title": title, "description": title,
        "status": incident.get("status"), "urgency": incident.get("urgency"),
        "priority": _name(incident.get("priority")), "service_name": _name(incident.get("service")),
        "escalation_policy": _name(incident.get("escalation_policy")),
        "team_names": ", ".join(n for n in map(_name, incident.get("teams") or []) if n),
        "assigned_to": ", ".join(n for n in assignees if n), "created_on": incident["created_at"],
        "acknowledged_on": ack, "resolved_on": incident.get("resolved_at"),
        "seconds_to_first_ack": _seconds(incident["created_at"], ack),
        "seconds_to_resolve": _seconds(incident["created_at"], incident.get("resolved_at")),
    }


def entry_rows(incident: Record, entries: list[Record]) -> list[dict[str, Any]]:
    """The log-entries-file rows of one incident: its status changes, oldest first, each with the
    status it leaves the incident in (`status`) beside the entry's type."""
    rank = {t: i for i, t in enumerate(STATUS_TYPES)}
    kept = sorted((e for e in entries if e.get("type") in rank),
                  key=lambda e: (_at(e), rank[e["type"]], e["id"]))
    return [{"id": e["id"], "type": e["type"], "status": STATUS_OF[e["type"]], "created_at": e["created_at"],
             "incident_id": incident["id"], "incident_number": incident["incident_number"],
             "agent": _name(e.get("agent")), "summary": e.get("summary")} for e in kept]


def render(incidents: list[Record], entries: Mapping[str, list[Record]]) -> list[RenderedFile]:
    """The files of `incidents` (by created time) and their log entries (by incident id): the
    log-entries file only when a status change is among them."""
    ordered = sorted(incidents, key=lambda i: (_at(i), i["incident_number"]))
    files = [RenderedFile("pagerduty-incidents", "pagerduty-incidents-sync.csv",
                          csv_bytes(INCIDENT_COLUMNS, (incident_row(i, entries.get(i["id"], [])) for i in ordered)))]
    rows = [r for i in ordered for r in entry_rows(i, entries.get(i["id"], []))]
    if rows:
        files.append(RenderedFile("pagerduty-log-entries", "pagerduty-log-entries-sync.csv",
                                  csv_bytes(ENTRY_COLUMNS, rows)))
    return files


def _newest(incidents: list[Record]) -> list[Record]:
    """One version per incident: the latest updated (an incident that changed while paged is seen twice)."""
    return keep_newest(incidents, lambda i: str(i["id"]), lambda i: _at(i, "updated_at") if i.get("updated_at")
                       else None)


def _stale(incident: Record, entries: list[Record]) -> bool:
    """Whether `entries` hold a status change later than the version of `incident` read (it
    changed while the pull paged through the log, its embedded copies read before)."""
    changed = incident.get("last_status_change_at") or incident.get("updated_at")
    if not changed:
        return False
    at = utc_naive(changed)
    return any(e.get("type") in STATUS_TYPES and _at(e) > at for e in entries)


def _incident_ok(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value.get("id")) and "incident_number" in value \
        and bool(value.get("created_at"))


def _entry_ok(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value.get("id")) and bool(value.get("created_at")) \
        and isinstance(value.get("incident"), Mapping) and bool(value["incident"].get("id"))


class _Reader:
    """Paged reads of one pull, counting what they read."""

    def __init__(self, client: JsonClient, config: Mapping[str, str], progress: Progress | None,
                 max_records: int) -> None:
        self.client, self.progress, self.max_records = client, progress, max_records
        self.services, self.teams = set(_ids(config, "service_ids")), _ids(config, "team_ids")
        self.read = 0

    def _tell(self, n: int, total: int | None = None) -> None:
        self.read += n
        if self.progress is not None:
            self.progress(self.read, total)

    def pages(self, path: str, params: Mapping[str, Any], key: str, check: Callable[[Any], bool],
              cap: int | None = None, progress_total: bool = False) -> tuple[list[Record], int | None, bool]:
        """One reading of a paged list: (records, the total its first page gave, complete?).
        Incomplete, early, when the list holds more than `cap` (offset + limit) may reach."""
        records: list[Record] = []
        offset, total = 0, None
        for _ in range(MAX_PAGES):
            body = self.client.get_json(path, {**params, "limit": LIMIT, "offset": offset, "total": "true"})
            page = body.get(key) if isinstance(body, Mapping) else None
            if not isinstance(page, list) or not all(check(r) for r in page):
                raise SourceError(f"PagerDuty: GET /{path}: not a page of {key.replace('_', ' ')}")
            if offset == 0 and isinstance(body.get("total"), int):
                total = body["total"]
            records += page
            self._tell(len(page), total if progress_total else None)
            if not body.get("more") or not page:
                return records, total, True
            offset += len(page)
            if cap is not None and (offset + LIMIT > cap or (total or 0) > cap):
                return records, total, False
        raise SourceError(f"PagerDuty: GET /{path}: more than {MAX_PAGES:,} pages")

    def listing(self, path: str, params: Mapping[str, Any], key: str, check: Callable[[Any], bool],
                cap: int | None = None, progress_total: bool = False) -> tuple[list[Record], int | None, bool]:
        """Every record of a paged list, as `pages` reads it. Offset paging has no cursor: a page
        served twice or skipped shows as fewer distinct records than the total, and the list
        is read again (the union counts), at most MAX_PASSES times."""
        records: list[Record] = []
        for _ in range(MAX_PASSES):
            got, total, complete = self.pages(path, params, key, check, cap, progress_total)
            records += got
            if not complete or total is None or len({r["id"] for r in records}) >= total:
                return records, total, complete
        raise SourceError(f"PagerDuty: GET /{path}: fewer records than its total on each of {MAX_PASSES} readings")

    def incidents(self) -> list[Record]:
        params: dict[str, Any] = {"date_range": "all", "sort_by": "created_at:asc", "time_zone": "UTC"}
        if self.services:
            params["service_ids[]"] = sorted(self.services)
        if self.teams:
            params["team_ids[]"] = self.teams
        found, _, _ = self.listing("incidents", params, "incidents", _incident_ok, progress_total=True)
        return _newest(found)

    def entries(self, since: datetime, until: datetime, *, overview: bool, embed: bool) -> list[Record]:
        """Account-wide log entries created in [since, until], in windows of at most max_records."""
        params: dict[str, Any] = {"time_zone": "UTC", "is_overview": "true" if overview else "false"}
        if embed:
            params["include[]"] = ["incidents"]
        if self.teams:
            params["team_ids[]"] = self.teams
        found: dict[str, Record] = {}
        windows = [(since, until)]
        while windows:
            lo, hi = windows.pop()
            # A second either side: whether since and until are inclusive is not documented.
            window = {**params, "since": _iso(lo - timedelta(seconds=1)), "until": _iso(hi + timedelta(seconds=1))}
            got, total, complete = self.listing("log_entries", window, "log_entries", _entry_ok, self.max_records)
            if not complete:
                if hi - lo <= timedelta(seconds=2):
                    raise SourceError(f"PagerDuty: GET /log_entries: more than {self.max_records:,} log entries "
                                      f"within {_iso(lo)} to {_iso(hi)}")
                parts = max(2, math.ceil(1.25 * (total or 0) / self.max_records))
                step = (hi - lo) / parts
                windows += [(lo + step * k, lo + step * (k + 1)) for k in range(parts)]
                continue
            found.update((e["id"], e) for e in got)
        return [e for e in found.values() if not self.services or (e.get("service") or {}).get("id") in self.services]

    def incident_entries(self, incident: Record, until: datetime) -> list[Record]:
        """The overview log of one incident, from its creation."""
        params = {"time_zone": "UTC", "is_overview": "true", "since": _iso(_at(incident) - timedelta(minutes=1)),
                  "until": _iso(until + timedelta(seconds=1))}
        got, _, _ = self.listing(f"incidents/{incident['id']}/log_entries", params, "log_entries", _entry_ok)
        return got

    def incident(self, incident_id: str) -> Record:
        body = self.client.get_json(f"incidents/{incident_id}", {"time_zone": "UTC"})
        incident = body.get("incident") if isinstance(body, Mapping) else None
        if not isinstance(incident, Mapping) or not _incident_ok(incident):
            raise SourceError(f"PagerDuty: GET /incidents/{incident_id}: not an incident")
        self._tell(1)
        return incident


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class PagerDutyConnector:
    """PagerDuty incidents and their log entries."""

    name = "pagerduty"
    label = "PagerDuty"
    required = (("api_key",),)

    def __init__(self, now: Callable[[], datetime] = _utcnow, max_records: int = MAX_RECORDS) -> None:
        self.now, self.max_records = now, max_records

    def make_client(self, config: Mapping[str, str]) -> HttpClient:
        return HttpClient(config.get("api_url") or API_URL, name=self.label,
                          min_interval=float(config.get("min_interval", MIN_INTERVAL)),
                          auth_headers={"Authorization": f"Token token={config['api_key']}", "Accept": ACCEPT})

    def check(self, client: JsonClient, config: Mapping[str, str]) -> str:
        params: dict[str, Any] = {"date_range": "all", "limit": 1, "total": "true"}
        if _ids(config, "service_ids"):
            params["service_ids[]"] = _ids(config, "service_ids")
        if _ids(config, "team_ids"):
            params["team_ids[]"] = _ids(config, "team_ids")
        body = client.get_json("incidents", params)
        if not isinstance(body, Mapping) or not isinstance(body.get("incidents"), list):
            raise SourceError("PagerDuty: GET /incidents: not a PagerDuty incidents page")
        total = body.get("total")
        return f"PagerDuty answers: {total:,} incidents" if isinstance(total, int) else "PagerDuty answers"

    def pull(self, client: JsonClient, config: Mapping[str, str], since: Watermark,
             progress: Progress | None = None) -> Pull:
        reader = _Reader(client, config, progress, self.max_records)
        start = since.since()
        ceiling = None
        if start is None:
            listed = reader.incidents()
            if not listed:
                return Pull(files=[], records_read=reader.read, watermark=since)
            incidents = {i["id"]: i for i in listed}
            until = self.now()  # after the listing: every listed incident was created before it
            entries = reader.entries(min(_at(i) for i in listed), until, overview=True, embed=False)
            # An incident that changed after it was listed may be rendered half old, half new: the
            # watermark stays at the listing's newest update, so the next pull reads it again.
            ceiling = max(_at(i, "updated_at") if i.get("updated_at") else _at(i) for i in listed)
        else:
            until = self.now()
            entries = reader.entries(start, until, overview=False, embed=True)
            incidents = {i["id"]: i for i in _newest([e["incident"] for e in entries if _incident_ok(e["incident"])])}
        by_incident: dict[str, list[Record]] = {}
        for e in entries:
            by_incident.setdefault(e["incident"]["id"], []).append(e)
        for incident_id in by_incident.keys() - incidents.keys():
            # Created after the listing (or embedded as a bare reference): read it.
            incidents[incident_id] = reader.incident(incident_id)
        if start is not None:
            for incident in incidents.values():
                if _at(incident) - timedelta(minutes=1) < start:  # its earlier log lies before the window
                    by_incident[incident["id"]] = reader.incident_entries(incident, until)
            for incident_id, log in by_incident.items():
                if _stale(incidents[incident_id], log):
                    incidents[incident_id] = reader.incident(incident_id)
        watermark = since
        for e in entries:
            if ceiling is None or _at(e) <= ceiling:
                watermark = watermark.advance(_at(e), str(e["id"]))
        files = render(list(incidents.values()), by_incident) if incidents else []
        return Pull(files=files, records_read=reader.read, watermark=watermark)

CONNECTOR = PagerDutyConnector()

__all__ = ["CONNECTOR", "PagerDutyConnector", "entry_rows", "incident_row", "render"]
