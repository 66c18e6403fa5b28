"""ServiceNow: incidents from the Table API and their updates from sys_audit, rendered as the
incident event log (profile servicenow-event-log; analytics/connectors/servicenow_render.py).

Incidents: `GET /api/now/table/incident` with `sysparm_display_value=all` (each field's value and
what it shows), ordered by sys_updated_on then sys_id and paged by that key rather than by
offset: an incident updated while the list is read moves to the end, and an offset would then
skip the one after it for good. Updates: `GET /api/now/table/sys_audit` for the pulled incidents
(append-only, so offset paging can only repeat a record, which is dropped). Names of references
and labels of choices that only the history holds come from their tables and sys_choice.

Config ([connectors.servicenow]): instance_url; username and password (basic auth) or token
(OAuth bearer); optional page_size (incidents per request, default 1000, at most 10,000) and
query (an encoded query every pull ANDs in, e.g. assignment_group=<sys_id>). Times are read and
asked for as the API's internal UTC values and rendered in UTC; the account's time zone should
be GMT so that a date in a query means the same instant.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from analytics.connectors import servicenow_render as render
from analytics.connectors.base import JsonClient, Progress, Pull, RenderedFile, SourceError, Watermark, keep_newest
from analytics.connectors.http import HttpClient

TABLE = "api/now/table/"
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000  # the Table API's documented largest sysparm_limit
# An audit record is a tenth of an incident read with display values, so its pages hold ten times
# as many for about the same bytes and time per request.
AUDIT_PAGE_FACTOR = 10
DOCS_PER_QUERY = 100  # incidents per sys_audit query: keeps the URL (32-character sys_ids) short
MAX_PAGES = 100_000  # a list that never ends is a broken server
INCIDENT_FIELDS = ",".join(("sys_id",) + render.FIELDS)
AUDIT_FIELDS = "sys_id,documentkey,fieldname,oldvalue,newvalue,sys_created_on,record_checkpoint,user"
ORDER = "^ORDERBYsys_updated_on^ORDERBYsys_id"
NO_HISTORY = ("ServiceNow: this account may not read sys_audit (HTTP 403), so incidents were loaded without "
              "their update history: each has its opening, resolution and current state only, so first-response "
              "times, waiting periods and reassignments between updates are missing. Grant read on sys_audit "
              "for the full history.")


def settings(config: Mapping[str, str]) -> tuple[str, int, str]:
    """(instance URL, page size, extra encoded query) from the config, or SourceError saying what is wrong."""
    url = (config.get("instance_url") or "").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError("ServiceNow: instance_url must be the instance's address, e.g. https://acme.service-now.com")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SourceError("ServiceNow: instance_url must use https (credentials would cross the network in clear)")
    try:
        size = int(config.get("page_size") or DEFAULT_PAGE)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE:
        raise SourceError(f"ServiceNow: page_size must be a whole number from 1 to {MAX_PAGE:,}")
    query = (config.get("query") or "").strip().strip("^")
    if "^NQ" in query or "ORDERBY" in query:
        raise SourceError("ServiceNow: query may not use ^NQ or ORDERBY (the sync adds its own order and filters)")
    return url, size, query


def auth_headers(config: Mapping[str, str]) -> dict[str, str]:
    if config.get("token"):
        return {"Authorization": f"Bearer {config['token']}"}
    if config.get("username") and config.get("password"):
        pair = f"{config['username']}:{config['password']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    raise SourceError("ServiceNow: set username and password, or token")


def internal_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _value(cell: Any) -> str:
    if type(cell) is str:  # most cells: checked first, as this runs for every field of every record
        return cell
    value = cell.get("value") if isinstance(cell, dict) else cell
    return "" if value is None else str(value)


def _shown(cell: Any) -> str:
    shown = cell.get("display_value") if isinstance(cell, dict) else cell
    return "" if shown is None else str(shown)


def _records(body: Any, path: str) -> list[Mapping[str, Any]]:
    result = body.get("result") if isinstance(body, Mapping) else None
    if not isinstance(result, list) or not all(isinstance(r, Mapping) for r in result):
        raise SourceError(f"ServiceNow: GET /{path}: the answer has no list of records under 'result'")
    return result


def forbidden(error: SourceError) -> bool:
    """The request was refused for this account (HTTP 403), as opposed to failing."""
    return error.status == 403


def _total(client: JsonClient) -> int | None:
    headers = getattr(client, "last_headers", None) or {}
    text = headers.get("X-Total-Count")
    return int(text) if text and str(text).isdigit() else None


def _join(*conditions: str) -> str:
    return "^".join(c for c in conditions if c)


class ServiceNow:
    """The ServiceNow connector (analytics.connectors.base.Connector)."""

    name = "servicenow"
    label = "ServiceNow"
    required = (("instance_url", "username", "password"), ("instance_url", "token"))

    def make_client(self, config: Mapping[str, str]) -> HttpClient:
        url, _, _ = settings(config)
        return HttpClient(url, auth_headers=auth_headers(config), name=self.label)

    def check(self, client: JsonClient, config: Mapping[str, str]) -> str:
        _, _, query = settings(config)
        client.get_json(TABLE + "incident", {"sysparm_query": query, "sysparm_fields": "sys_id", "sysparm_limit": 1})
        total = _total(client)
        try:
            client.get_json(TABLE + "sys_audit", {"sysparm_query": "tablename=incident", "sysparm_fields": "sys_id",
                                                  "sysparm_limit": 1})
            history = "update history readable"
        except SourceError as error:
            if not forbidden(error):
                raise
            history = "update history NOT readable (sys_audit: HTTP 403)"
        count = "incidents" if total is None else f"{total:,} incidents"
        return f"ServiceNow: connected; {count}{' matching the query' if query else ''}; {history}"

    def pull(self, client: JsonClient, config: Mapping[str, str], since: Watermark,
             progress: Progress | None = None) -> Pull:
        _, size, query = settings(config)
        incidents: list[Mapping[str, Any]] = []
        total = None
        for attempt in range(2):
            for page, total_now in self._incident_pages(client, size, query, since):
                incidents += page
                total = total if total is not None else total_now
                if progress:
                    progress(len(incidents), total)
            unique = keep_newest(incidents, key=lambda r: _value(r.get("sys_id")),
                                 updated=lambda r: _parse(_value(r.get("sys_updated_on"))))
            # Records updated while paging move but stay in the range, so fewer than the first
            # page counted means a page was lost (skipped, or a short one answered twice): list again.
            if total is None or len(unique) >= total:
                break
            if attempt:
                raise SourceError(f"ServiceNow: GET /{TABLE}incident: the instance counted {total:,} incidents "
                                  f"(X-Total-Count) but the pages held {len(unique):,}, twice; nothing was loaded")
        read, incidents = len(incidents), unique
        if not incidents:
            return _pull([], read, since, [])
        names = render.Names()
        records = []
        for incident in incidents:
            for fld, cell in incident.items():
                names.learn(fld, _value(cell), _shown(cell))
            records.append({fld: _value(cell) for fld, cell in incident.items()})
        warnings: list[str] = []
        audits = self._audits(client, [r["sys_id"] for r in records], size, progress, read)
        if audits is None:
            warnings.append(NO_HISTORY)
            histories = [render.lifecycle(r) for r in records]
        else:
            read += sum(len(a) for a in audits.values())
            histories = [render.events(r, audits.get(r["sys_id"], [])) for r in records]
        warnings += self._name(client, names, histories, size)
        watermark = since
        for r in records:
            watermark = watermark.advance(_parse(r.get("sys_updated_on", "")), r["sys_id"])
        return _pull([render.render(histories, names)], read, watermark, warnings)

    def _incident_pages(self, client: JsonClient, size: int, query: str,
                        since: Watermark) -> Iterator[tuple[list[Mapping[str, Any]], int | None]]:
        """Pages of incidents updated at or after the watermark less OVERLAP, by (sys_updated_on, sys_id).

        After a full page ending at (T, id): the rest of time T by sys_id after id, then the
        times after T; so no offset, and a run of records sharing one time never loops."""
        start = since.since()
        ask = _join(query, f"sys_updated_on>={internal_time(start)}" if start else "") + ORDER
        tie: str | None = None
        for _ in range(MAX_PAGES):
            body = client.get_json(TABLE + "incident", {
                "sysparm_query": ask, "sysparm_fields": INCIDENT_FIELDS, "sysparm_limit": size,
                "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"})
            page = _records(body, TABLE + "incident")
            yield page, _total(client)
            if len(page) >= size:
                # The page's greatest key, not its last record's: a page out of order loses nothing.
                tie, after = max((_value(r.get("sys_updated_on")), _value(r.get("sys_id"))) for r in page)
                ask = _join(query, f"sys_updated_on={tie}", f"sys_id>{after}") + "^ORDERBYsys_id"
            elif tie is not None:
                ask, tie = _join(query, f"sys_updated_on>{tie}") + ORDER, None
            else:
                return
        raise SourceError(f"ServiceNow: GET /{TABLE}incident: more than {MAX_PAGES:,} pages; stopped")

    def _audits(self, client: JsonClient, ids: list[str], size: int, progress: Progress | None,
                read: int) -> dict[str, list[Mapping[str, str]]] | None:
        """Audit records of the incidents, by incident sys_id; None when the account may not read them."""
        out: dict[str, dict[str, Mapping[str, str]]] = {}
        for i in range(0, len(ids), DOCS_PER_QUERY):
            query = (f"tablename=incident^documentkeyIN{','.join(ids[i:i + DOCS_PER_QUERY])}"
                     "^ORDERBYsys_created_on^ORDERBYsys_id")
            try:
                pages = self._offset_pages(client, "sys_audit", query, AUDIT_FIELDS,
                                           min(MAX_PAGE, size * AUDIT_PAGE_FACTOR))
                for page in pages:
                    for a in page:
                        record = {k: _value(v) for k, v in a.items()}
                        out.setdefault(record.get("documentkey", ""), {})[record.get("sys_id", "")] = record
                        read += 1
                    if progress:
                        progress(read, None)
            except SourceError as error:
                if i == 0 and forbidden(error):
                    return None
                raise
        return {doc: list(found.values()) for doc, found in out.items()}

    def _offset_pages(self, client: JsonClient, table: str, query: str, fields: str,
                      size: int) -> Iterator[list[Mapping[str, Any]]]:
        for n in range(MAX_PAGES):
            page = _records(client.get_json(TABLE + table, {
                "sysparm_query": query, "sysparm_fields": fields, "sysparm_limit": size,
                "sysparm_offset": n * size, "sysparm_exclude_reference_link": "true"}), TABLE + table)
            yield page
            if len(page) < size:
                return
        raise SourceError(f"ServiceNow: GET /{TABLE}{table}: more than {MAX_PAGES:,} pages; stopped")

    def _name(self, client: JsonClient, names: render.Names, histories: list[list[dict[str, str]]],
              size: int) -> list[str]:
        """Labels and names that only past values use, from sys_choice and the referenced tables; warnings."""
        warnings = []
        past = [row for history in histories for row in history[:-1]]
        needed = {f for row in past for f in render.CHOICES if row.get(f) and (f, row[f]) not in names.labels}
        if needed:
            query = f"name=incident^elementIN{','.join(sorted(needed))}"
            try:
                for page in self._offset_pages(client, "sys_choice", query, "element,value,label", size):
                    for c in page:
                        names.learn(_value(c.get("element")), _value(c.get("value")), _value(c.get("label")))
            except SourceError as error:
                if not forbidden(error):
                    raise
                warnings.append("ServiceNow: this account may not read sys_choice (HTTP 403): past values of "
                                f"{', '.join(sorted(needed))} that no current incident shows are loaded as their "
                                "stored values, not their labels")
        for table, ids in sorted(names.missing(past).items()):
            shown = next(d for t, d in render.REFERENCES.values() if t == table)
            ordered = sorted(ids)
            try:
                for i in range(0, len(ordered), DOCS_PER_QUERY):
                    query = f"sys_idIN{','.join(ordered[i:i + DOCS_PER_QUERY])}"
                    for page in self._offset_pages(client, table, query, f"sys_id,{shown}", size):
                        for r in page:
                            names.references.setdefault(_value(r.get("sys_id")), _value(r.get(shown)))
            except SourceError as error:
                if not forbidden(error):
                    raise
                warnings.append(f"ServiceNow: this account may not read {table} (HTTP 403): {len(ids):,} past "
                                "values that no current incident shows are loaded as sys_ids, not names")
        return warnings


def _parse(value: str) -> datetime | None:
    try:
        return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _pull(files: list[RenderedFile], read: int, watermark: Watermark, warnings: list[str]) -> Pull:
    return Pull(files, read, watermark, warnings)


CONNECTOR = ServiceNow()

__all__ = ["AUDIT_FIELDS", "CONNECTOR", "NO_HISTORY", "ServiceNow", "auth_headers", "forbidden", "settings"]
