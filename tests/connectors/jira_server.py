"""A Jira Cloud REST v3 stand-in on 127.0.0.1 for the connector tests, serving issues built from
rows of the Public Jira Dataset export (one Jira instance = one site).

It speaks what analytics/connectors/jira.py uses, in Jira's documented shapes: GET /myself,
the enhanced JQL search (GET or POST /search/jql: `issues`, `nextPageToken`, `isLast`; only
the fields asked for), POST /search/approximate-count and POST /changelog/bulkfetch
(`issueChangeLogs`, `nextPageToken`, filtered by fieldIds). Like Jira Cloud it writes every
time in the account's time zone and reads JQL dates ("yyyy-MM-dd HH:mm") in that zone too. Basic auth (email:API token) or 401; faults
on demand (`fail`): 401/403/404/429 with Retry-After/500, and truncated JSON.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

API = "/rest/api/3"
SEARCH_CAP = 100  # Jira returns fewer issues per page than asked when many fields are requested
BULK_ISSUES = 1000  # documented limits of changelog/bulkfetch
BULK_CAP = 1000
_JQL_DATE = re.compile(r'updated\s*>=\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', re.I)
_PROJECT_EQ = re.compile(r'project\s*=\s*"?([^"()]+?)"?', re.I)
_PROJECT_IN = re.compile(r"project\s+in\s*\(([^)]*)\)", re.I)


def jira_time(at: datetime, zone: ZoneInfo) -> str:
    """Jira's REST time format in `zone`: 2021-01-08T10:38:15.000-0600."""
    local = at.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads Jira's 2021-01-08T16:38:15.000+0000


def _user(name: str, active: str = "") -> dict | None:
    # Jira Cloud has no usernames: the dataset's username stands in for the accountId.
    return {"accountId": name, "displayName": name, "active": active == "True", "accountType": "atlassian"} \
        if name else None


def _number(text: str) -> int | None:
    return int(float(text)) if text else None


def _project_key(name: str, taken: dict[str, str]) -> str:
    if name not in taken:
        base = re.sub(r"[^A-Z]", "", name.upper())[:8] or "P"
        key, n = base, 1
        while key in taken.values():
            n += 1
            key = f"{base}{n}"
        taken[name] = key
    return taken[name]


@dataclass
class Fault:
    kind: int | str  # an HTTP status, or "truncated"
    path: str  # applies to request paths starting with this
    times: int = 1
    skip: int = 0  # let this many matching requests through first


class JiraServer:
    """Start with `with JiraServer(rows) as server:`; `server.site_url` is the site to configure."""

    def __init__(self, rows: list[dict[str, str]], *, email: str = "ops@example.com",
                 token: str = "secret-api-token-1234", time_zone: str = "America/Chicago") -> None:
        self.email, self.token, self.zone = email, token, ZoneInfo(time_zone)
        self.issues: dict[str, dict] = {}  # by key
        self.histories: dict[str, list[dict]] = {}  # by issue id, oldest first
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, Any]] = []  # (method, path, query or body) of every request
        self.served: list[str] = []  # keys of the issues each search page returned, in order
        self.before_page: dict[int, Callable[[], None]] = {}  # search request number (1-based) -> run first
        self.lock = threading.Lock()
        self._history_id = 100_000
        projects: dict[str, str] = {}
        counters: dict[str, int] = {}
        for row in sorted(rows, key=lambda r: parse_time(r["created"])):
            pkey = _project_key(row["project_name"], projects)
            counters[pkey] = counters.get(pkey, 0) + 1
            self._add(row, pkey, counters[pkey])
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- data -------------------------------------------------------------------------------
    def _add(self, row: dict[str, str], pkey: str, number: int) -> None:
        z = self.zone
        created, updated = parse_time(row["created"]), parse_time(row["updated"])
        resolved = parse_time(row["resolutiondate"]) if row["resolutiondate"] else None
        authors = ast.literal_eval(row["comment_authors"] or "[]")
        comments = [{"id": str(i), "author": _user(a), "created": jira_time(parse_time(c), z),
                     "updateAuthor": _user(ua), "updated": jira_time(parse_time(u), z)}
                    for i, (a, c, ua, u) in enumerate(zip(authors, *(ast.literal_eval(row[k] or "[]") for k in (
                        "comment_datetime", "updated_author", "updated_datetime"))))]
        links = [{"id": str(i), "type": {"name": "Relates"}, "outwardIssue": {"key": "X-1"}}
                 for i in range(int(row["outward_count"] or 0))]
        links += [{"id": str(100 + i), "type": {"name": "Relates"}, "inwardIssue": {"key": "X-2"}}
                  for i in range(int(row["inward_count"] or 0))]
        key, issue_id = f"{pkey}-{number}", row["id"]
        statuses = self._changelog(issue_id, created, resolved, updated)
        final = statuses[-1] if statuses else "Open"
        self.issues[key] = {"id": issue_id, "key": key, "self": f"{API}/issue/{issue_id}", "fields": {
            "summary": f"{row['issue_name']} {key}", "issuetype": {"name": row["issue_name"]},
            "project": {"key": pkey, "name": row["project_name"]},
            "priority": {"name": row["priority"]} if row["priority"] else None,
            "status": {"name": final, "statusCategory": {"key": _category(final)}},
            "resolution": {"name": "Fixed"} if resolved else None,
            "created": jira_time(created, z), "updated": jira_time(updated, z),
            "resolutiondate": jira_time(resolved, z) if resolved else None,
            "duedate": row["duedate"] or None, "timespent": _number(row["timespent"]),
            "timeestimate": _number(row["timeestimate"]),
            "labels": ast.literal_eval(row["labels"]) if row["labels"] else [],
            "subtasks": [{"id": f"{issue_id}{i}", "key": f"{key}.{i}"} for i in range(int(row["subtasks"] or 0))],
            "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0},
            "issuelinks": links,
            "votes": {"votes": _number(row["votes"]), "hasVoted": False} if row["votes"] else None,
            "watches": {"watchCount": _number(row["watches"]), "isWatching": False} if row["watches"] else None,
            **{role: _user(row[f"{role}_id"], row[f"{role}_active_status"])
               for role in ("assignee", "creator", "reporter")},
        }}

    def _changelog(self, issue_id: str, created: datetime, resolved: datetime | None, updated: datetime) -> list[str]:
        """A status history consistent with the issue: Open at creation, maybe In Progress, a
        reopened resolution now and then, Resolved at its resolution date (Closed after it
        when it was updated later); unresolved issues end in an open status. Returns the
        statuses entered, in order. Histories also carry non-status items (assignee, resolution)."""
        rng = random.Random(int(issue_id))
        end = resolved or max(updated, created)
        span = end - created
        at = lambda f: created + span * f  # noqa: E731
        steps: list[tuple[datetime, str, list[dict]]] = []
        if rng.random() < 0.3:
            steps.append((at(0.05), "", [_item("assignee", None, "someone")]))
        if rng.random() < 0.6:
            steps.append((at(0.2), "In Progress", []))
        if resolved is not None:
            fix = [_item("resolution", None, "Fixed")]
            if rng.random() < 0.15 and span > timedelta(minutes=10):
                steps += [(at(0.5), "Resolved", fix), (at(0.7), "Reopened", [_item("resolution", "Fixed", None)])]
            steps.append((resolved, "Resolved", fix))
            if updated > resolved and rng.random() < 0.5:
                steps.append((updated, "Closed", []))
        elif steps and rng.random() < 0.2:
            steps.append((at(0.9), "Reopened", []))
        history, current, entered = [], "Open", []
        for when, status, other in steps:
            items = list(other)
            if status:
                items.insert(0, _item("status", current, status))
                current = status
                entered.append(status)
            history.append(self._history(when, items))
        self.histories[issue_id] = history
        return entered

    def _history(self, when: datetime, items: list[dict]) -> dict:
        self._history_id += 1
        return {"id": str(self._history_id), "author": _user("jira-bot", "True"), "created": jira_time(when, self.zone),
                "items": items}

    def change(self, keys: list[str], at: datetime) -> None:
        """Each issue updated at `at` with a transition: a resolved one reopens, an open one is resolved."""
        with self.lock:
            for key in keys:
                fields = self.issues[key]["fields"]
                before = fields["status"]["name"]
                after = "Reopened" if fields["resolutiondate"] else "Resolved"
                items = [_item("status", before, after),
                         _item("resolution", *(("Fixed", None) if after == "Reopened" else (None, "Fixed"))),
                         _item("priority", fields["priority"] and fields["priority"]["name"], "Critical")]
                self.histories[self.issues[key]["id"]].append(self._history(at, items))
                fields.update(status={"name": after, "statusCategory": {"key": _category(after)}},
                              updated=jira_time(at, self.zone), priority={"name": "Critical"},
                              resolution=None if after == "Reopened" else {"name": "Fixed"},
                              resolutiondate=None if after == "Reopened" else jira_time(at, self.zone))

    def clone(self) -> JiraServer:
        """A server of its own holding this one's issues and changelogs as they are now."""
        other = JiraServer([], email=self.email, token=self.token, time_zone=self.zone.key)
        other.issues, other.histories = json.loads(json.dumps(self.issues)), json.loads(json.dumps(self.histories))
        other._history_id = self._history_id
        return other

    def fail(self, kind: int | str, path: str = API, times: int = 1, skip: int = 0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, path, times, skip))

    # -- queries ----------------------------------------------------------------------------
    def search(self, jql: str, fields: list[str], max_results: int, token: str | None) -> dict:
        matched = self._match(jql)
        digest = hashlib.sha1(jql.encode()).hexdigest()[:10]
        offset = 0
        if token:
            state = json.loads(base64.urlsafe_b64decode(token))
            if state["q"] != digest:
                raise _BadRequest("The nextPageToken does not belong to this query.")
            offset = state["o"]
        page = matched[offset:offset + max(1, min(max_results, SEARCH_CAP))]
        # Copies: a change after this page is served must not reach into it.
        page = json.loads(json.dumps(page))
        after = offset + len(page)
        self.served.extend(i["key"] for i in page)
        body: dict[str, Any] = {"issues": [_project(i, fields) for i in page], "isLast": after >= len(matched)}
        if after < len(matched):
            body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps({"o": after, "q": digest}).encode()).decode()
        return body

    def _match(self, jql: str) -> list[dict]:
        cut = re.search(r"\s+ORDER\s+BY\s+", jql, re.I)
        text, order = (jql[:cut.start()], jql[cut.end():]) if cut else (jql, "")
        if order and re.sub(r"\s+", " ", order.strip()).lower() != "updated asc, key asc":
            raise _BadRequest(f"Unsupported ORDER BY in this stand-in: {order}")
        projects: set[str] | None = None
        since = None
        for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.I):
            clause = clause.strip()
            while clause.startswith("(") and clause.endswith(")"):
                clause = clause[1:-1].strip()
            if m := _JQL_DATE.fullmatch(clause):
                since = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=self.zone)
            elif m := _PROJECT_IN.fullmatch(clause):
                projects = (projects or set()) | {p.strip().strip('"') for p in m.group(1).split(",")}
            elif m := _PROJECT_EQ.fullmatch(clause):
                projects = (projects or set()) | {m.group(1).strip()}
            else:
                raise _BadRequest(f"Error in the JQL Query: cannot read '{clause}'.")
        out = [i for i in self.issues.values()
               if (projects is None or {i["fields"]["project"]["key"], i["fields"]["project"]["name"]} & projects)
               and (since is None or parse_time(i["fields"]["updated"]) >= since)]
        if order:
            out.sort(key=lambda i: (parse_time(i["fields"]["updated"]), i["fields"]["project"]["key"],
                                    int(i["key"].rsplit("-", 1)[1])))
        return out

    def bulk_changelog(self, body: dict) -> dict:
        wanted = [str(k) for k in body.get("issueIdsOrKeys") or []]
        if not wanted or len(wanted) > BULK_ISSUES:
            raise _BadRequest(f"issueIdsOrKeys must list 1 to {BULK_ISSUES} issues.")
        ids = [self.issues[k]["id"] if k in self.issues else k for k in wanted]
        field_ids = set(body.get("fieldIds") or [])
        rows = []
        for issue_id in ids:
            for h in self.histories.get(issue_id, []):
                items = [i for i in h["items"] if not field_ids or i["fieldId"] in field_ids]
                if items:
                    rows.append((parse_time(h["created"]), int(issue_id), {**h, "items": items}))
        rows.sort(key=lambda r: (r[0], r[1]))  # documented: oldest change first, then smallest issue id
        offset = int(body.get("nextPageToken") or 0)
        page = rows[offset:offset + max(1, min(int(body.get("maxResults") or BULK_CAP), BULK_CAP))]
        grouped: dict[str, list[dict]] = {}
        for _, issue_id, h in page:
            grouped.setdefault(str(issue_id), []).append(h)
        out: dict[str, Any] = {"issueChangeLogs": [{"issueId": i, "changeHistories": hs} for i, hs in grouped.items()]}
        if offset + len(page) < len(rows):
            out["nextPageToken"] = str(offset + len(page))
        return out

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> JiraServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _fault(self, path: str) -> int | str | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and path.startswith(f.path):
                    if f.skip > 0:
                        f.skip -= 1
                        return None
                    f.times -= 1
                    return f.kind
        return None


class _BadRequest(Exception):
    pass


def _item(field: str, old: str | None, new: str | None) -> dict:
    return {"field": field, "fieldtype": "jira", "fieldId": field, "from": None, "fromString": old, "to": None,
            "toString": new}


def _category(status: str) -> str:
    return {"Open": "new", "Reopened": "new", "Resolved": "done", "Closed": "done"}.get(status, "indeterminate")


def _project(issue: dict, fields: list[str]) -> dict:
    """The issue with only the fields asked for (the enhanced search returns only ids by default)."""
    if not fields:
        return {"id": issue["id"]}
    every = any(f in ("*all", "*navigable") for f in fields)
    return {**{k: issue[k] for k in ("id", "key", "self")},
            "fields": {k: v for k, v in issue["fields"].items() if every or k in fields}}


def _handler(server: JiraServer) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{server.email}:{server.token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, truncate: bool = False) -> None:
            data = json.dumps(body).encode()
            if truncate:
                data = data[: max(1, len(data) // 2)]
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = {}
            if method == "POST":
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
            server.log.append((method, url.path, body if method == "POST" else query))
            if self.headers.get("Authorization") != expected:
                return self._send(401, {"errorMessages": ["Client must be authenticated to access this resource."]},
                                  {"WWW-Authenticate": 'Basic realm="protected-area"'})
            fault = server._fault(url.path)
            if isinstance(fault, int):
                return self._send(fault, {"errorMessages": [f"HTTP {fault} (injected)"]},
                                  {"Retry-After": "1"} if fault == 429 else None)
            try:
                status, out = self._route(method, url.path, query, body)
            except _BadRequest as error:
                status, out = 400, {"errorMessages": [str(error)], "errors": {}}
            self._send(status, out, truncate=fault == "truncated")

        def _route(self, method: str, path: str, query: dict, body: dict) -> tuple[int, Any]:
            if path == f"{API}/myself" and method == "GET":
                return 200, {"accountId": "sync-bot", "emailAddress": server.email, "displayName": "Sync Bot",
                             "active": True, "timeZone": server.zone.key}
            if path == f"{API}/search/jql":
                req = body if method == "POST" else {
                    **query, "fields": [f for f in query.get("fields", "").split(",") if f]}
                hook = server.before_page.pop(sum(1 for m, p, _ in server.log if p == path), None)
                if hook is not None:
                    hook()
                with server.lock:
                    return 200, server.search(str(req.get("jql") or ""), list(req.get("fields") or []),
                                              int(req.get("maxResults") or 50), req.get("nextPageToken"))
            if path == f"{API}/search/approximate-count" and method == "POST":
                with server.lock:
                    return 200, {"count": len(server._match(str(body.get("jql") or "")))}
            if path == f"{API}/changelog/bulkfetch" and method == "POST":
                with server.lock:
                    return 200, server.bulk_changelog(body)
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}

    return Handler


def utc(text: str) -> datetime:
    """A Jira time as naive UTC (what the store holds)."""
    return parse_time(text).astimezone(timezone.utc).replace(tzinfo=None)
