"""A PagerDuty REST API v2 test server on 127.0.0.1, serving incidents built from a real export.

The documented shapes (PagerDuty/api-schema, reference/REST/openapiv3.json): `GET /incidents`
(since/until on created_at, date_range=all, statuses[], urgencies[], service_ids[], team_ids[],
sort_by, total), `GET /incidents/{id}`, `GET /log_entries` (since/until on the entry's time,
is_overview, include[]=incidents, team_ids[]) and `GET /incidents/{id}/log_entries`; classic
pagination (limit ≤ 100, offset, more; total only with total=true; /log_entries refuses offset +
limit over `cap`, 10,000 as PagerDuty enforces); `Authorization: Token token=<key>` (else 401),
the version header (else 406); faults on demand (`fail`, `truncate`, `shift`, `on_request`).
Log entries come newest first: their order is not documented, so a client must not rely on it.

No PagerDuty export is public, so the account is built from the real ServiceNow event log
(../shared/data/real/servicenow-incident-event-log), every 25th incident number: 984 incidents.
Per incident, from the facts of its last row (times: the log's wall clock read as UTC):
  number INC0000450 → incident_number 450; id "Q" + 13 base-36 characters (deterministic)
  u_symptom, subcategory → title "Symptom 72 in Subcategory 170" (the log has no text)
  category → service "Category 55" (the log's first-level service)
  assignment_group → team, and escalation policy "Group 56 Escalation Policy"; '?' → none
  assigned_to → the assigned user, who acknowledges and resolves; '?' → none (the service does)
  priority "1 - Critical" … "4 - Low" → P1 … P4; urgency "1 - High" → high, any other → low
  opened_at → created_at: a trigger_log_entry, and a notify_log_entry (not in the overview)
  the first update into an open state past New (Active, Awaiting …) → acknowledge_log_entry
  a later change of assignment_group before resolution → assign_log_entry
  resolved_at → resolve_log_entry; none (57 incidents) → still triggered
"""
from __future__ import annotations

import csv
import functools
import gzip
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

EVENT_LOG = Path("servicenow-incident-event-log") / "incident_event_log.csv.gz"
ACCEPT = "application/vnd.pagerduty+json;version=2"
OVERVIEW = {"trigger_log_entry", "acknowledge_log_entry", "unacknowledge_log_entry", "resolve_log_entry",
            "assign_log_entry", "escalate_log_entry"}
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OPEN_STATES = {"Active", "Awaiting User Info", "Awaiting Vendor", "Awaiting Problem", "Awaiting Evidence"}


def pd_id(prefix: str, n: int, width: int) -> str:
    """A PagerDuty-looking id, deterministic in `n`."""
    x = (n * 2_654_435_761 + 97) % 36**width
    return prefix + "".join(_B36[(x // 36**k) % 36] for k in range(width - 1, -1, -1))


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _known(text: str) -> str | None:
    return None if text == "?" else text  # the log's empty value


def _time(text: str) -> datetime | None:
    return None if text == "?" else datetime.strptime(text, "%d/%m/%Y %H:%M")


@dataclass
class Incident:
    """One incident as the account holds it: the truth the API renders and a test compares with."""

    number: int
    title: str
    urgency: str
    priority: str | None
    service: str
    team: str | None
    user: str | None
    created: datetime
    acked: datetime | None = None
    resolved: datetime | None = None
    updated: datetime = field(default=datetime.min)

    @property
    def id(self) -> str:
        return pd_id("Q", self.number, 13)

    @property
    def status(self) -> str:
        return "resolved" if self.resolved else "acknowledged" if self.acked else "triggered"


@dataclass
class Entry:
    id: str
    type: str
    at: datetime
    number: int
    agent: str | None  # a user's name, None for the service itself


@functools.lru_cache(maxsize=None)
def ref(kind: str, name: str, prefix: str) -> dict[str, Any]:
    """A reference to a service, user, team or escalation policy, its id deterministic in `name`."""
    ident = pd_id(prefix, sum(ord(c) * 31**i for i, c in enumerate(name)) % 10**9, 6)
    return {"id": ident, "type": f"{kind}_reference", "summary": name,
            "self": f"https://api.pagerduty.com/{kind.replace('policy', 'policie')}s/{ident}"}


class Account:
    """The incidents and log entries of one PagerDuty account, and a clock."""

    def __init__(self, incidents: list[Incident], entries: list[Entry]) -> None:
        self.incidents = {i.number: i for i in incidents}
        self.entries = entries
        self.now = max(e.at for e in entries) + timedelta(days=1)
        self._seq = len(entries)
        self._triggers = {e.number: e for e in entries if e.type == "trigger_log_entry"}

    @classmethod
    def from_event_log(cls, real_data: Path, every: int = 25) -> Account:
        rows: dict[int, list[dict[str, str]]] = {}
        with gzip.open(real_data / EVENT_LOG, "rt", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            for values in reader:
                n = int(values[0][3:])
                if n % every == 0:
                    rows.setdefault(n, []).append(dict(zip(header, values, strict=True)))
        built = [_incident(n, events) for n, events in sorted(rows.items())]
        return cls([inc for inc, _ in built], [e for _, log in built for e in log])

    def log(self, number: int, kind: str, at: datetime, agent: str | None) -> None:
        self._seq += 1  # ids apart from those the event log's incidents got (number * 100 + k)
        self.entries.append(Entry(pd_id("R", 10**9 + self._seq, 13), kind, at, number, agent))
        self.incidents[number].updated = max(self.incidents[number].updated, at)

    def change(self, n: int) -> list[int]:
        """Move `n` open incidents one step (triggered → acknowledged → resolved), one second
        apart after the clock; returns their numbers."""
        picked = sorted(i.number for i in self.incidents.values() if not i.resolved)[:n]
        for number in picked:
            inc = self.incidents[number]
            self.now += timedelta(seconds=1)
            if inc.acked is None:
                inc.acked = self.now
                self.log(number, "acknowledge_log_entry", self.now, inc.user)
            else:
                inc.resolved = self.now
                self.log(number, "resolve_log_entry", self.now, inc.user)
        self.now += timedelta(minutes=10)
        return picked

    # --- rendering as the API does ----------------------------------------------------------
    def incident_json(self, inc: Incident) -> dict[str, Any]:
        user = ref("user", inc.user, "PU") if inc.user else None
        service = ref("service", inc.service, "PS")
        first = self._triggers[inc.number]
        changed = inc.resolved or inc.acked or inc.created
        return {
            "id": inc.id, "type": "incident", "summary": f"[#{inc.number}] {inc.title}", "incident_number": inc.number,
            "self": f"https://api.pagerduty.com/incidents/{inc.id}", "title": inc.title, "status": inc.status,
            "created_at": iso(inc.created), "updated_at": iso(inc.updated), "incident_key": f"sn-{inc.number}",
            "service": service, "assigned_via": "escalation_policy", "last_status_change_at": iso(changed),
            "assignments": [{"at": iso(inc.created), "assignee": user}] if user and not inc.resolved else [],
            "last_status_change_by": (user or service) if inc.acked or inc.resolved else service,
            "resolved_at": iso(inc.resolved) if inc.resolved else None, "resolve_reason": None,
            "first_trigger_log_entry": {"id": first.id, "type": "trigger_log_entry_reference"},
            "escalation_policy": ref("escalation_policy", f"{inc.team or 'Default'} Escalation Policy", "PE"),
            "teams": [ref("team", inc.team, "PT")] if inc.team else [], "pending_actions": [],
            "acknowledgements": [{"at": iso(inc.acked), "acknowledger": user or service}]
            if inc.acked and not inc.resolved else [], "urgency": inc.urgency,
            "priority": {"id": pd_id("PP", int(inc.priority[1]), 5), "type": "priority_reference",
                         "summary": inc.priority} if inc.priority else None,
        }

    def entry_json(self, e: Entry, with_incident: bool) -> dict[str, Any]:
        inc = self.incidents[e.number]
        service = ref("service", inc.service, "PS")
        verb = e.type.removesuffix("_log_entry").capitalize().replace("_", " ")
        short = {"id": inc.id, "type": "incident_reference", "summary": f"[#{inc.number}] {inc.title}"}
        return {
            "id": e.id, "type": e.type, "summary": f"{verb}d" if verb.endswith("e") else f"{verb}ed",
            "created_at": iso(e.at), "agent": ref("user", e.agent, "PU") if e.agent else service,
            "channel": {"type": "api" if e.type == "trigger_log_entry" else "web_ui"},
            "service": service, "incident": self.incident_json(inc) if with_incident else short,
            "teams": [ref("team", inc.team, "PT")] if inc.team else [], "contexts": [], "event_details": {},
        }


def _incident(n: int, events: list[dict[str, str]]) -> tuple[Incident, list[Entry]]:
    last = events[-1]
    created = _time(last["opened_at"])
    assert created is not None
    symptom, sub = _known(last["u_symptom"]), _known(last["subcategory"])
    inc = Incident(
        number=n, title=f"{symptom or 'No symptom'} in {sub or 'no subcategory'}",
        urgency="high" if last["urgency"].startswith("1") else "low",
        priority=f"P{last['priority'][0]}" if last["priority"][:1].isdigit() else None,
        service=_known(last["category"]) or "Unknown service", team=_known(last["assignment_group"]),
        user=_known(last["assigned_to"]), created=created, updated=created)
    seq = iter(range(n * 100, n * 100 + 100))
    log = [Entry(pd_id("R", next(seq), 13), "trigger_log_entry", created, n, None)]
    if inc.user:
        log.append(Entry(pd_id("R", next(seq), 13), "notify_log_entry", created, n, inc.user))
    resolved = _time(last["resolved_at"])
    for ev in events:
        at = max(created, _time(ev["sys_updated_at"]) or created)
        if resolved and at >= resolved:
            break
        if inc.acked is None and ev["incident_state"] in _OPEN_STATES:
            inc.acked = at
            log.append(Entry(pd_id("R", next(seq), 13), "acknowledge_log_entry", at, n, inc.user))
    groups = [(max(created, _time(ev["sys_updated_at"]) or created), ev["assignment_group"]) for ev in events]
    for (_, before), (at, group) in zip(groups, groups[1:], strict=False):
        if group != before and group != "?" and not (resolved and at >= resolved):
            log.append(Entry(pd_id("R", next(seq), 13), "assign_log_entry", at, n, inc.user))
    if resolved:
        inc.resolved = max(resolved, inc.acked or created)
        log.append(Entry(pd_id("R", next(seq), 13), "resolve_log_entry", inc.resolved, n, inc.user))
    inc.updated = max(e.at for e in log)
    return inc, log


# --- the HTTP side ------------------------------------------------------------------------------
class _BadRequest(Exception):
    pass


def _when(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest(f"invalid date {text!r}") from None
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def _int(q: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return int(q.get(key, [str(default)])[0])
    except ValueError:
        raise _BadRequest(f"{key} must be an integer") from None


class _Handler(BaseHTTPRequestHandler):
    server: PagerDutyServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.handle(self)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


class PagerDutyServer(ThreadingHTTPServer):
    """The account on 127.0.0.1:<free port>, in a thread: `with PagerDutyServer(account) as s: s.url`."""

    daemon_threads = True

    def __init__(self, account: Account, api_key: str = "pd-test-key", cap: int = 10_000) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.account, self.api_key, self.cap = account, api_key, cap
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.faults: list[dict[str, Any]] = []
        # Called with (path, query) before each authorised request is answered: a test's hook
        # to change the account while a client pages through it.
        self.on_request: Callable[[str, dict[str, list[str]]], None] | None = None
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> PagerDutyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def fail(self, status: int, path: str = "/", times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` requests under `path` answer `status` (0: the connection drops unanswered)."""
        self.faults.append({"path": path, "times": times, "status": status, "retry_after": retry_after})

    def truncate(self, path: str = "/", times: int = 1) -> None:
        """The next `times` requests under `path` answer 200 with half of their JSON."""
        self.faults.append({"path": path, "times": times, "truncate": True})

    def shift(self, pages: int, path: str = "/", times: int = 1) -> None:
        """The next `times` requests for a later page under `path` get the page `pages` further
        on: 1 skips a page, -1 serves the previous one again."""
        self.faults.append({"path": path, "times": times, "shift": pages})

    def _fault(self, path: str, q: dict[str, list[str]]) -> dict[str, Any]:
        for fault in self.faults:
            if path.startswith(fault["path"]) and (not fault.get("shift") or _int(q, "offset", 0) > 0):
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
                return fault
        return {}

    def handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        q = parse_qs(parts.query, keep_blank_values=True)
        with self.lock:
            self.requests.append((parts.path, q))
            if h.headers.get("Authorization") != f"Token token={self.api_key}":
                return _send(h, 401, {"error": {"message": "Unauthenticated", "code": 2006}})
            if h.headers.get("Accept") != ACCEPT:
                return _send(h, 406, {"error": {"message": "Not Acceptable", "code": 2001}})
            if self.on_request is not None:
                self.on_request(parts.path, q)
            fault = self._fault(parts.path, q)
            if fault.get("status") == 0:  # the connection drops unanswered
                h.close_connection = True
                return None
            if fault.get("status"):
                headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] else {}
                return _send(h, fault["status"], {"error": {"message": "Fault", "code": 9999}}, headers)
            if fault.get("shift"):
                q["offset"] = [str(_int(q, "offset", 0) + fault["shift"] * min(_int(q, "limit", 25), 100))]
            try:
                status, body = self._route(parts.path, q)
            except _BadRequest as error:
                status, body = 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                               "errors": [str(error)]}}
            _send(h, status, body, truncate=bool(fault.get("truncate")))

    def _route(self, path: str, q: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        acc = self.account
        segments = path.strip("/").split("/")
        if segments == ["incidents"]:
            return 200, self._incidents(q)
        if segments == ["log_entries"]:
            return self._entries(q, acc.entries)
        inc = next((i for i in acc.incidents.values() if i.id == segments[1]), None) if len(segments) > 1 else None
        if inc is not None and segments[0] == "incidents" and len(segments) == 2:
            return 200, {"incident": acc.incident_json(inc)}
        if inc is not None and segments[0] == "incidents" and segments[2:] == ["log_entries"]:
            return self._entries(q, [e for e in acc.entries if e.number == inc.number])
        return 404, {"error": {"message": "Not Found", "code": 2100}}

    def _window(self, q: dict[str, list[str]], days: int) -> tuple[datetime, datetime]:
        since = _when(q["since"][0]) if "since" in q else self.account.now - timedelta(days=days)
        return since, _when(q["until"][0]) if "until" in q else self.account.now

    def _incidents(self, q: dict[str, list[str]]) -> dict[str, Any]:
        acc = self.account
        found = list(acc.incidents.values())
        if q.get("date_range") != ["all"]:
            since, until = self._window(q, 30)
            found = [i for i in found if since <= i.created < until]
        for key, value in (("statuses[]", lambda i: i.status), ("urgencies[]", lambda i: i.urgency),
                           ("service_ids[]", lambda i: ref("service", i.service, "PS")["id"]),
                           ("team_ids[]", lambda i: i.team and ref("team", i.team, "PT")["id"])):
            if key in q:
                found = [i for i in found if value(i) in q[key]]
        name, _, direction = q.get("sort_by", ["created_at:asc"])[0].partition(":")
        if name not in ("created_at", "incident_number"):  # of the documented keys, those a client here uses
            raise _BadRequest(f"cannot sort by {name!r}")
        found.sort(key=lambda i: (i.created, i.number) if name == "created_at" else (i.number,),
                   reverse=direction == "desc")
        return self._page(q, "incidents", found, acc.incident_json)

    def _entries(self, q: dict[str, list[str]], entries: list[Entry]) -> tuple[int, dict[str, Any]]:
        acc = self.account
        since, until = self._window(q, 30)
        found = sorted((e for e in entries if since <= e.at < until), key=lambda e: (e.at, e.id), reverse=True)
        if q.get("is_overview") == ["true"]:
            found = [e for e in found if e.type in OVERVIEW]
        if "team_ids[]" in q:
            found = [e for e in found if (t := acc.incidents[e.number].team) and ref("team", t, "PT")["id"]
                     in q["team_ids[]"]]
        limit, offset = min(_int(q, "limit", 25), 100), _int(q, "offset", 0)
        if entries is acc.entries and offset + limit > self.cap:
            raise _BadRequest(f"offset + limit must be at most {self.cap}")
        with_incident = "incidents" in q.get("include[]", [])
        return 200, self._page(q, "log_entries", found, lambda e: acc.entry_json(e, with_incident))

    @staticmethod
    def _page(q: dict[str, list[str]], key: str, items: list[Any], render: Callable[[Any], Any]) -> dict[str, Any]:
        limit, offset = min(_int(q, "limit", 25), 100), _int(q, "offset", 0)
        return {key: [render(i) for i in items[offset:offset + limit]], "limit": limit, "offset": offset,
                "more": offset + limit < len(items), "total": len(items) if q.get("total") == ["true"] else None}


def _send(h: _Handler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
          truncate: bool = False) -> None:
    data = json.dumps(body).encode()
    if truncate:
        data = data[: len(data) // 2]
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)
