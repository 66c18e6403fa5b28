"""A Jira Cloud REST v3 stand-in on 127.0.0.1 for the connector tests, serving issues built from
rows of the Public Jira Dataset export (jira_data.py; one Jira instance = one site).

It speaks what analytics/connectors/jira.py uses, in Jira's documented shapes: GET /myself,
the enhanced JQL search (GET or POST /search/jql: `issues`, `nextPageToken`, `isLast`; only
the fields asked for), POST /search/approximate-count and POST /changelog/bulkfetch
(`issueChangeLogs`, `nextPageToken`, filtered by fieldIds). Like Jira Cloud it writes every
time in the account's time zone and reads JQL dates ("yyyy-MM-dd HH:mm") in that zone too.
Basic auth (email:API token) or 401; faults on demand (`fail`): 401/403/404/429 with
Retry-After/500, truncated JSON, a connection dropped mid-body, and search pages skipped,
served twice or reordered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.connectors.jira_data import API, IssueData, jira_time, parse_time, utc
from tests.connectors.serving import LocalServer

SEARCH_CAP = 100  # Jira returns fewer issues per page than asked when many fields are requested
BULK_ISSUES = 1000  # documented limits of changelog/bulkfetch
BULK_CAP = 1000
_JQL_DATE = re.compile(r'updated\s*>=\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', re.I)
_PROJECT_EQ = re.compile(r'project\s*=\s*"?([^"()]+?)"?', re.I)
_PROJECT_IN = re.compile(r"project\s+in\s*\(([^)]*)\)", re.I)


@dataclass
class Fault:
    # An HTTP status; "truncated" (half the body), "die" (the connection drops mid-body); for the
    # search: "skip" (the page after the one asked), "again" (the previous page's issues once more,
    # with a new token), "repeat" (the previous answer verbatim, its token too), "shuffle" (reversed).
    kind: int | str
    path: str  # applies to request paths starting with this
    times: int = 1
    skip: int = 0  # let this many matching requests through first


class JiraServer(IssueData, LocalServer):
    """Start with `with JiraServer(rows) as server:`; `server.site_url` is the site to configure."""

    def __init__(self, rows: list[dict[str, str]], *, email: str = "ops@example.com",
                 token: str = "secret-api-token-1234", time_zone: str = "America/Chicago") -> None:
        super().__init__(rows, ZoneInfo(time_zone))
        self.email, self.token = email, token
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, Any]] = []  # (method, path, query or body) of every request
        self.served: list[str] = []  # keys of the issues each search page returned, in order
        self.before_page: dict[int, Callable[[], None]] = {}  # search request number (1-based) -> run first
        self._tokens = 0  # tokens handed out: each one differs, as Jira's opaque tokens do
        self._last_page: tuple[int, dict] = (0, {})  # the last search page's offset and answer
        self._listen(_handler(self))

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
    def search(self, jql: str, fields: list[str], max_results: int, token: str | None, fault: Any = None) -> dict:
        matched = self._match(jql)
        digest = hashlib.sha1(jql.encode()).hexdigest()[:10]
        offset = 0
        if token:
            state = json.loads(base64.urlsafe_b64decode(token))
            if state["q"] != digest:
                raise _BadRequest("The nextPageToken does not belong to this query.")
            offset = state["o"]
        if fault == "repeat" and self._last_page[1]:
            return self._last_page[1]
        size = max(1, min(max_results, SEARCH_CAP))
        start = {"skip": offset + size, "again": self._last_page[0]}.get(fault, offset)
        # Copies: a change after this page is served must not reach into it.
        page = json.loads(json.dumps(matched[start:start + size]))
        if fault == "shuffle":
            page.reverse()
        after = offset if fault == "again" else start + len(page)
        self.served.extend(i["key"] for i in page)
        body: dict[str, Any] = {"issues": [_project(i, fields) for i in page], "isLast": after >= len(matched)}
        if after < len(matched):
            self._tokens += 1
            state = {"o": after, "q": digest, "n": self._tokens}
            body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        self._last_page = start, body
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

    @property
    def site_url(self) -> str:
        return self.url

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

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, cut: Any = None) -> None:
            data = json.dumps(body).encode()
            half = data[: max(1, len(data) // 2)]
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            # "die": the full length announced, half of it sent, then the connection closes.
            self.send_header("Content-Length", str(len(half if cut == "truncated" else data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(half if cut in ("truncated", "die") else data)
            if cut == "die":
                self.wfile.flush()
                self.close_connection = True

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
                status, out = self._route(method, url.path, query, body, fault)
            except _BadRequest as error:
                status, out = 400, {"errorMessages": [str(error)], "errors": {}}
            self._send(status, out, cut=fault)

        def _route(self, method: str, path: str, query: dict, body: dict, fault: Any) -> tuple[int, Any]:
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
                                              int(req.get("maxResults") or 50), req.get("nextPageToken"), fault)
            if path == f"{API}/search/approximate-count" and method == "POST":
                with server.lock:
                    return 200, {"count": len(server._match(str(body.get("jql") or "")))}
            if path == f"{API}/changelog/bulkfetch" and method == "POST":
                with server.lock:
                    return 200, server.bulk_changelog(body)
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}

    return Handler


__all__ = ["Fault", "JiraServer", "jira_time", "parse_time", "utc"]
