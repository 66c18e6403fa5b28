"""A Statuspage API on 127.0.0.1 for tests: the public page and the manage API, with faults on demand.

Public: `GET /api/v2/incidents.json` -> {"page": …, "incidents": the 50 most recent}. Manage:
`GET /v1/pages/{page_id}` and `GET /v1/pages/{page_id}/incidents?page=N&per_page=M` (M at
most 100) -> a JSON list, newest created first, with `Authorization: OAuth <key>` required.
The incidents are Statuspage incident documents (the real export's raw JSONL holds them).
"""

from __future__ import annotations

import copy
import gzip
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE = {"id": "kctbh9vrtdwd", "name": "GitHub", "url": "https://www.githubstatus.com", "time_zone": "Etc/UTC"}
RAW = Path("github-status-incidents") / "githubstatus_incidents_raw.jsonl.gz"


def real_incidents(real_data: Path) -> list[dict[str, Any]]:
    """The raw export's incidents (the API's own incident JSON), oldest first."""
    with gzip.open(real_data / RAW, "rt", encoding="utf-8") as f:
        return [json.loads(line)["incident"] for line in f]


def synthetic_incidents(n: int) -> list[dict[str, Any]]:
    """`n` small incidents in Statuspage's shape (for fault tests that need no real export)."""
    out = []
    for i in range(n):
        day, hour = 1 + i // 24 % 28, i % 24
        at = f"2023-{1 + i // 672 % 12:02d}-{day:02d}T{hour:02d}:00:00.000Z"
        done = at.replace(":00:00.000Z", ":45:00.000Z")
        comp = {"code": f"c{i % 4}", "name": f"Service {i % 4}", "old_status": "operational",
                "new_status": "partial_outage"}
        updates = [
            {"id": f"u{i}a", "status": "investigating", "body": f"Looking into problem {i}", "incident_id": f"inc{i:04d}",
             "created_at": at, "updated_at": at, "display_at": at, "affected_components": [comp]},
            {"id": f"u{i}b", "status": "resolved", "body": "Resolved.", "incident_id": f"inc{i:04d}",
             "created_at": done, "updated_at": done, "display_at": done,
             "affected_components": [dict(comp, old_status="partial_outage", new_status="operational")]},
        ]
        out.append({"id": f"inc{i:04d}", "name": f"Incident {i} with Service {i % 4}", "status": "resolved",
                    "created_at": at, "updated_at": done, "monitoring_at": None, "resolved_at": done,
                    "impact": ("minor", "major", "none", "critical")[i % 4], "shortlink": f"https://stspg.io/{i}",
                    "started_at": at, "page_id": PAGE["id"], "incident_updates": updates,
                    "components": [{"id": comp["code"], "name": comp["name"]}]})
    return out


def change(incident: dict[str, Any], stamp: str, *, name: str | None = None) -> None:
    """Edit `incident` as Statuspage does when someone posts an update at `stamp` (ISO, Z)."""
    incident["name"] = name or incident["name"] + " (updated)"
    incident["updated_at"] = stamp
    incident["incident_updates"] = [{
        "id": f"x{len(incident['incident_updates'])}{incident['id']}", "status": "resolved",
        "body": "Postmortem: root cause found.", "incident_id": incident["id"], "created_at": stamp,
        "updated_at": stamp, "display_at": stamp, "affected_components": []}] + incident["incident_updates"]


@dataclass
class Faults:
    """What goes wrong next. Counters are the number of requests they still affect."""

    unauthorized: bool = False  # 401 on every request
    rate_limited: int = 0  # 429 with Retry-After
    retry_after: str = "2"  # seconds, or an HTTP date
    server_error: int = 0  # 500
    truncated: int = 0  # a 200 whose JSON is cut off (Content-Length of the cut body)
    die_mid_page: int = 0  # a 200 that promises the whole body, sends half and closes the socket
    page_twice: int | None = None  # this page's content is served again for the next page (once)
    skip_page: int | None = None  # this page is answered with the next page's content (once)
    reorder: bool = False  # each page's records in reverse order
    # Called once after this page was served: a record changes between two page requests.
    change_after_page: tuple[int, Callable[[list[dict[str, Any]]], None]] | None = None


@dataclass
class StatuspageServer:
    incidents: list[dict[str, Any]]
    api_key: str = "test-key-0123"
    page_id: str = "testpage"
    faults: Faults = field(default_factory=Faults)
    requests: list[str] = field(default_factory=list)  # path?query of each request
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending_edit: Callable[[list[dict[str, Any]]], None] | None = None

    def newest_first(self) -> list[dict[str, Any]]:
        return sorted(self.incidents, key=lambda i: (i["created_at"], i["id"]), reverse=True)

    def config(self, *, public: bool = False) -> dict[str, str]:
        """The connector settings that reach this server."""
        if public:
            return {"base_url": self.url}
        return {"api_key": self.api_key, "page_id": self.page_id, "api_url": self.url + "/v1/", "min_interval": "0"}

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, extra headers) for one request; applies and uses up the faults."""
        f = self.faults
        if f.unauthorized:
            return 401, {"error": "Could not authenticate"}, {}
        if f.rate_limited:
            f.rate_limited -= 1
            return 429, {"error": "Rate limit exceeded"}, {"Retry-After": f.retry_after}
        if f.server_error:
            f.server_error -= 1
            return 500, {"error": "Internal error"}, {}
        if path == "/api/v2/incidents.json":
            return 200, {"page": PAGE, "incidents": self.newest_first()[:50]}, {}
        prefix = f"/v1/pages/{self.page_id}"
        if not path.startswith("/v1/pages/"):
            return 404, {"error": "Not found"}, {}
        if auth != f"OAuth {self.api_key}":
            return 401, {"error": "Could not authenticate"}, {}
        if path == prefix:
            return 200, dict(PAGE, id=self.page_id), {}
        if path != prefix + "/incidents":
            return 404, {"error": "Not found"}, {}
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["100"])[0]), 100)
        served = page
        if f.page_twice is not None and page == f.page_twice + 1:
            served, f.page_twice = page - 1, None
        elif f.skip_page is not None and page == f.skip_page:
            served, f.skip_page = page + 1, None
        # Not copied: the handler turns it into JSON before it lets go of the lock.
        rows = self.newest_first()[(served - 1) * per_page:served * per_page]
        if f.reorder:
            rows.reverse()
        if f.change_after_page is not None and f.change_after_page[0] == page:
            self.pending_edit, f.change_after_page = f.change_after_page[1], None
        return 200, rows, {}

    def after_answer(self) -> None:
        """Apply an edit due after the page just turned into JSON."""
        if self.pending_edit is not None:
            edit, self.pending_edit = self.pending_edit, None
            edit(self.incidents)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *_args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        api: StatuspageServer = self.server.api
        parts = urlsplit(self.path)
        with api.lock:
            api.requests.append(self.path)
            status, body, headers = api.answer(parts.path, parse_qs(parts.query), self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            api.after_answer()
            cut = status == 200 and api.faults.truncated > 0
            die = status == 200 and not cut and api.faults.die_mid_page > 0
            if cut:
                api.faults.truncated -= 1
                data = data[:len(data) // 2]
            if die:
                api.faults.die_mid_page -= 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if die:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


@contextmanager
def serve(incidents: list[dict[str, Any]], **options) -> Iterator[StatuspageServer]:
    """A running server on 127.0.0.1 (a free port) holding `incidents` (copied)."""
    api = StatuspageServer(copy.deepcopy(incidents), **options)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.api = api  # type: ignore[attr-defined]
    api.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
