"""A ServiceNow instance on 127.0.0.1 for the connector tests: the Table API over incidents built
from rows of the real incident event log (one row per update of an incident).

The log's rows of an incident, in event order (update time, sys_mod_count, file row), are its
updates. The `incident` record is the last one; `sys_audit` holds what ServiceNow audits: one
record per field an update changed (oldvalue/newvalue, sys_created_on, record_checkpoint =
sys_mod_count, user), every non-empty field of the first update as an insert, and for an update
that changed none of the log's fields (a comment or work note the anonymised log does not show)
a `work_notes` journal record. As in ServiceNow, audit values are internal: a reference is the
referenced record's sys_id (sys_user, sys_user_group, cmn_location, cmdb_ci, problem,
change_request hold the names), a choice its value (sys_choice holds the labels), a date-time
"YYYY-MM-DD HH:MM:SS" UTC. The log's "?" is an empty field.

Speaks GET /api/now/table/<table>[/<sys_id>] with sysparm_query (conditions joined by ^ and ^OR
with =, !=, >, >=, <, <=, IN, NOT IN, STARTSWITH; ORDERBY and ORDERBYDESC), sysparm_fields,
sysparm_limit (at most 10,000), sysparm_offset, sysparm_display_value (false/true/all) and
sysparm_exclude_reference_link; answers {"result": [...]} with X-Total-Count and a Link header
(first/prev/next/last). Basic auth or a bearer token, else 401; faults on demand (`fail`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.connectors.serving import LocalServer

API = "/api/now/table/"
MAX_LIMIT = 10_000
FIELD_OF = {"sys_updated_at": "sys_updated_on", "sys_created_at": "sys_created_on"}  # log column → field
DATETIMES = ("opened_at", "sys_created_on", "sys_updated_on", "resolved_at", "closed_at")
REFERENCES = {"caller_id": "sys_user", "opened_by": "sys_user", "assigned_to": "sys_user", "resolved_by": "sys_user",
              "location": "cmn_location", "cmdb_ci": "cmdb_ci", "assignment_group": "sys_user_group",
              "problem_id": "problem", "rfc": "change_request", "caused_by": "change_request"}
DISPLAY_FIELD = {"sys_user": "name", "sys_user_group": "name", "cmn_location": "name", "cmdb_ci": "name",
                 "problem": "number", "change_request": "number"}
CHOICES = ("incident_state", "priority", "impact", "urgency", "contact_type", "category", "subcategory",
           "u_symptom", "notify", "closed_code")
# incident_state values as in pre-Helsinki instances; "-100" has no choice (shown as the value).
STATES = {"New": "1", "Active": "2", "Awaiting Problem": "3", "Awaiting User Info": "4", "Awaiting Evidence": "5",
          "Resolved": "6", "Closed": "7", "Awaiting Vendor": "-5"}
NOT_AUDITED = ("number", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count")
_COND = re.compile(r"^([a-z0-9_.]+)(NOT IN|IN|STARTSWITH|>=|<=|!=|=|>|<)(.*)$", re.S)


@lru_cache(maxsize=None)
def sys_id(*parts: str) -> str:
    return hashlib.md5(":".join(parts).encode()).hexdigest()


@lru_cache(maxsize=None)
def log_time(text: str) -> datetime:
    """The log's D/M/YYYY HH:MM (strptime is slow enough to matter over 10,000 rows)."""
    day, month, rest = text.split("/")
    year, clock = rest.split(" ")
    hour, minute = clock.split(":")
    return datetime(int(year), int(month), int(day), int(hour), int(minute))


@lru_cache(maxsize=None)
def internal_time(text: str) -> str:
    return "" if text in ("", "?") else log_time(text).strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=None)
def choice_value(element: str, label: str) -> str:
    if element == "incident_state":
        return STATES.get(label, label)
    if element == "notify":
        return {"Do Not Notify": "1", "Send Email": "2"}.get(label, label)
    numbered = re.match(r"^(\d+) - ", label)
    return numbered.group(1) if numbered else label.lower().replace(" ", "_")


@dataclass
class Fault:
    # An HTTP status; "truncated" (half a body), "die" (the connection drops mid-body); "repeat" (the
    # previous answer to that path again), "skip" (the page after the one asked), "shuffle" (reversed).
    kind: int | str
    path: str  # applies to request paths starting with this
    times: int = 1
    skip: int = 0  # let this many matching requests through first
    retry_after: str | None = None


class ServiceNowServer(LocalServer):
    """Start with `with ServiceNowServer(rows) as server:`; `server.url` is the instance URL."""

    def __init__(self, rows: Iterable[dict[str, str]], *, username: str = "hypercare.sync",
                 password: str = "s3cret-Pa55word", token: str = "oauth-token-5678") -> None:
        self.username, self.password, self.token = username, password, token
        self.audit_forbidden = False  # True: GET sys_audit answers 403, as for an account without the role
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict[str, str]]] = []  # (path, query parameters) of every request
        self.last: dict[str, tuple[Any, dict[str, str]]] = {}  # path → its last answer (for "repeat")
        self.before: Callable[[str, dict[str, str]], None] | None = None  # runs before each answer
        self.lock = threading.RLock()
        self.chains: dict[str, list[dict[str, str]]] = {}  # number → its log rows in event order
        self.names: dict[str, tuple[str, str]] = {}  # reference sys_id → (table, name)
        self.labels: dict[tuple[str, str], str] = {}  # (element, value) → label
        self.tables: dict[str, dict[str, dict[str, str]]] = {"incident": {}, "sys_audit": {}}
        self.audits: dict[str, dict[str, dict[str, str]]] = {}  # incident sys_id → its audit records by sys_id
        for n, row in enumerate(rows):
            self.chains.setdefault(row["number"], []).append({**row, "__row": str(n)})
        for number, chain in self.chains.items():
            chain.sort(key=lambda r: (log_time(r["sys_updated_at"]), int(r["sys_mod_count"]), int(r["__row"])))
            self._build(number, 0)
        self._listen(_handler(self))

    # -- data --------------------------------------------------------------------------------
    def internal(self, row: dict[str, str]) -> dict[str, str]:
        """A log row as the incident's fields hold it (internal values), registering names and labels."""
        out: dict[str, str] = {}
        for column, text in row.items():
            if column == "__row":
                continue
            field = FIELD_OF.get(column, column)
            text = "" if text == "?" else text
            if field in DATETIMES:
                out[field] = internal_time(text)
            elif field in REFERENCES and text:
                table = REFERENCES[field]
                out[field] = sys_id(table, text)
                self.names[out[field]] = (table, text)
            elif field in CHOICES and text:
                out[field] = choice_value(field, text)
                if (field, out[field]) not in self.labels and text != out[field]:
                    self.labels[field, out[field]] = text
            else:
                out[field] = text
        return out

    def _build(self, number: str, first: int) -> None:
        """The incident record and the audit records of updates `first`… of `number`."""
        chain, doc = self.chains[number], sys_id("incident", number)
        states = [self.internal(r) for r in chain]
        for i in range(first, len(chain)):
            now, before = states[i], states[i - 1] if i else {}
            changed = [(f, before.get(f, ""), v) for f, v in now.items()
                       if f not in NOT_AUDITED and v != before.get(f, "") and (i or v)]
            if i and not changed:
                changed = [("work_notes", "JOURNAL FIELD ADDITION", "")]
            for field, old, new in changed:
                key = sys_id("audit", number, str(i), field)
                self.audits.setdefault(doc, {})[key] = self.tables["sys_audit"][key] = {
                    "sys_id": key, "tablename": "incident", "documentkey": doc, "fieldname": field,
                    "oldvalue": old, "newvalue": new, "sys_created_on": now["sys_updated_on"],
                    "record_checkpoint": now["sys_mod_count"], "user": now["sys_updated_by"], "reason": ""}
        self.tables["incident"][doc] = {**states[-1], "sys_id": doc}

    def change(self, numbers: Iterable[str], at: datetime, fields: dict[str, str] | None = None,
               user: str = "Updated by 0") -> None:
        """One more update of each incident at `at`: `fields` (log columns → log values) changed, or a work note."""
        with self.lock:
            for number in numbers:
                chain = self.chains[number]
                last = chain[-1]
                row = {**last, **(fields or {}), "sys_updated_at": f"{at.day}/{at.month}/{at.year} {at:%H:%M}",
                       "sys_mod_count": str(int(last["sys_mod_count"]) + 1), "sys_updated_by": user,
                       "__row": str(10**9 + sum(len(c) for c in self.chains.values()))}
                chain.append(row)
                self._build(number, len(chain) - 1)

    def rows(self) -> list[dict[str, str]]:
        """The log as an export would hold it now: every incident's rows in event order."""
        with self.lock:
            return [{k: v for k, v in r.items() if k != "__row"} for c in self.chains.values() for r in c]

    def table(self, name: str, query: str = "") -> list[dict[str, str]]:
        """The records of `name` that `query` can match (sys_audit: of the documents it names, if it does)."""
        docs = re.search(r"(?:^|\^)documentkey(?:IN|=)([0-9a-f,]+)(?:\^|$)", query) if name == "sys_audit" else None
        if docs:
            return [a for d in docs.group(1).split(",") for a in self.audits.get(d, {}).values()]
        if name in self.tables:
            return list(self.tables[name].values())
        if name == "sys_choice":
            return [{"sys_id": sys_id("choice", e, v), "name": "incident", "element": e, "value": v, "label": label,
                     "inactive": "false"} for (e, v), label in self.labels.items()]
        return [{"sys_id": i, DISPLAY_FIELD[t]: n} for i, (t, n) in self.names.items() if t == name]

    def display(self, table: str, field: str, value: str) -> str:
        if table != "incident" or not value:
            return value
        if field in REFERENCES:
            return self.names.get(value, ("", value))[1]
        return self.labels.get((field, value), value) if field in CHOICES else value

    # -- faults ------------------------------------------------------------------------------
    def fail(self, kind: int | str, path: str = API, times: int = 1, skip: int = 0,
             retry_after: str | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(kind, path, times, skip, retry_after))

    def _fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path):
                    if fault.skip:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None



# -- the encoded query ---------------------------------------------------------------------------
def parse_query(text: str) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, bool]]]:
    """(AND of OR-groups of (field, operator, value), [(field, descending)]); ValueError if unreadable."""
    groups: list[list[tuple[str, str, str]]] = []
    order: list[tuple[str, bool]] = []
    for term in text.split("^"):
        if term in ("", "EQ"):
            continue
        if term.startswith("ORDERBYDESC"):
            order.append((term[11:], True))
        elif term.startswith("ORDERBY"):
            order.append((term[7:], False))
        elif term.startswith("NQ"):
            raise ValueError("^NQ is not supported by this test server")
        else:
            alternative = term.startswith("OR") and bool(groups)
            match = _COND.match(term[2:] if alternative else term)
            if not match:
                raise ValueError(f"unreadable condition {term!r}")
            cond = (match.group(1), match.group(2), match.group(3))
            groups[-1].append(cond) if alternative else groups.append([cond])
    return groups, order


@lru_cache(maxsize=None)
def _key(value: str) -> tuple[int, float, str]:
    """Numbers compare as numbers, before text, as ServiceNow orders integer fields."""
    try:
        return 0, float(value), ""
    except ValueError:
        return 1, 0.0, value


def _test(field: str, op: str, value: str) -> Callable[[dict[str, str]], bool]:
    if op in ("IN", "NOT IN"):
        among, want = frozenset(value.split(",")), op == "IN"
        return lambda r: (r.get(field, "") in among) == want
    if op == "STARTSWITH":
        return lambda r: r.get(field, "").startswith(value)
    if op == "=":
        return lambda r: r.get(field, "") == value or _key(r.get(field, "")) == _key(value)
    if op == "!=":
        return lambda r: _key(r.get(field, "")) != _key(value)
    bound = _key(value)
    return {">": lambda r: _key(r.get(field, "")) > bound, ">=": lambda r: _key(r.get(field, "")) >= bound,
            "<": lambda r: _key(r.get(field, "")) < bound, "<=": lambda r: _key(r.get(field, "")) <= bound}[op]


def select(records: Iterable[dict[str, str]], query: str) -> list[dict[str, str]]:
    groups, order = parse_query(query)
    tests = [[_test(*c) for c in g] for g in groups]
    out = [r for r in records if all(any(t(r) for t in g) for g in tests)]
    for field, desc in reversed(order):
        out.sort(key=lambda r: _key(r.get(field, "")), reverse=desc)
    return out


# -- HTTP ----------------------------------------------------------------------------------------
def _handler(server: ServiceNowServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms wait between them

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
                  cut: str | None = None) -> None:
            """cut "truncated": half the body, framed as complete; "die": half, then the connection drops."""
            data = json.dumps(body).encode()
            sent = data[: len(data) // 2] if cut else data
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data) if cut == "die" else len(sent)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(sent)
            if cut == "die":
                self.close_connection = True

        def _error(self, status: int, message: str, detail: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "detail": detail}, "status": "failure"}, headers)

        def _authorised(self) -> bool:
            given = self.headers.get("Authorization", "")
            basic = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
            return given in (f"Basic {basic}", f"Bearer {server.token}")

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            with server.lock:
                server.log.append((parts.path, params))
            if server.before:
                server.before(parts.path, params)
            if not self._authorised():
                return self._error(401, "User Not Authenticated", "Required to provide Auth information",
                                   {"WWW-Authenticate": 'Basic realm="Service-now"'})
            fault = server._fault(parts.path)
            if fault and isinstance(fault.kind, int):
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._error(fault.kind, "Fault", "injected by the test", headers)
            if not parts.path.startswith(API):
                return self._error(400, "Invalid path", parts.path)
            name, _, one = parts.path[len(API):].partition("/")
            if name == "sys_audit" and server.audit_forbidden:
                return self._error(403, "User Not Authorized", "ACL Exception Read Failed due to security constraints")
            try:
                with server.lock:
                    query = params.get("sysparm_query", "")
                    records = select(server.table(name, query), query)
            except ValueError as error:
                return self._error(400, "Invalid query", str(error))
            if one:
                records = [r for r in records if r.get("sys_id") == one]
                if not records:
                    return self._error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            try:
                limit = min(int(params.get("sysparm_limit", MAX_LIMIT)), MAX_LIMIT)
                offset = int(params.get("sysparm_offset", 0))
            except ValueError:
                return self._error(400, "Invalid parameter", "sysparm_limit and sysparm_offset are numbers")
            kind = fault.kind if fault else None
            start = offset + limit if kind == "skip" else offset  # a buggy server: the page after the one asked
            page = [self._shape(name, r, params) for r in records[start:start + limit]]
            if kind == "shuffle":
                page.reverse()
            headers = {"X-Total-Count": str(len(records)), "Link": self._links(parts.path, params, offset, limit,
                                                                                len(records))}
            body = {"result": page[0] if one else page}
            with server.lock:
                if kind == "repeat" and parts.path in server.last:
                    body, headers = server.last[parts.path]  # the previous answer again
                server.last[parts.path] = body, headers
            self._send(200, body, headers, cut=kind if kind in ("truncated", "die") else None)

        def _shape(self, table: str, record: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
            fields = [f for f in params.get("sysparm_fields", "").split(",") if f] or list(record)
            mode = params.get("sysparm_display_value", "false").lower()
            if table != "incident" and mode == "false":  # no names, labels or links: the values as they are
                return {f: record[f] for f in fields if f in record}
            links = params.get("sysparm_exclude_reference_link", "false").lower() != "true"
            out: dict[str, Any] = {}
            for field in fields:
                if field not in record:
                    continue  # as ServiceNow: a field the table lacks is left out
                value = record[field]
                shown = server.display(table, field, value)
                cell: dict[str, str] = {"false": {"value": value}, "true": {"display_value": shown}}.get(
                    mode, {"display_value": shown, "value": value})
                if links and table == "incident" and field in REFERENCES and value:
                    cell["link"] = f"{server.url}{API}{REFERENCES[field]}/{value}"
                out[field] = next(iter(cell.values())) if len(cell) == 1 else cell
            return out

        def _links(self, path: str, params: dict[str, str], offset: int, limit: int, total: int) -> str:
            def at(o: int, rel: str) -> str:
                query = urlencode({**params, "sysparm_offset": o, "sysparm_limit": limit})
                return f'<{server.url}{path}?{query}>;rel="{rel}"'

            pages = [(0, "first")] + [(max(0, offset - limit), "prev")] * (offset > 0)
            pages += [(offset + limit, "next")] * (offset + limit < total)
            return ",".join(at(o, rel) for o, rel in pages + [(max(0, (total - 1) // max(limit, 1) * limit), "last")])

    return Handler
